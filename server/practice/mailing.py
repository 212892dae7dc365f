"""What the practice sends by email: session reminders (through reminders.ReminderLoop) and a member's
invite link (the dashboard's "Send link"). The store of sent reminders lives in SQLite; recipients are the
active members with an email and a live invite, each with their own link."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .groups import schedule_of
from .invites import invite_secret, invite_url
from .reminders import Clinic, Recipient
from .schedule import Occurrence, occurrences
from .store import PracticeStore, Row

# Far enough ahead for the 24-hour reminder, whose window opens 24 h before a session.
LOOKAHEAD = datetime.timedelta(hours=25)


class SqliteSentStore:
    """reminders.SentStore over the practice's ``reminders_sent`` table."""

    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    async def sent(self, member_id: str) -> set[tuple[str, datetime.timedelta]]:
        rows = await self.store.call(self.store.db.reminders_sent, member_id)
        return {(r["occurrence_key"], datetime.timedelta(seconds=r["offset_s"])) for r in rows}

    async def record(self, member_id: str, key: str, offset: datetime.timedelta) -> None:
        await self.store.call(self.store.db.record_reminder, member_id, key, int(offset.total_seconds()))


class ReminderRecipients:
    """reminders.Provider: every (recipient, occurrence) pair whose session starts within LOOKAHEAD."""

    def __init__(self, store: PracticeStore, invite_key: bytes, public_url: str) -> None:
        self.store = store
        self.invite_key = invite_key
        self.public_url = public_url

    async def __call__(self, now: datetime.datetime) -> Iterable[tuple[Recipient, Occurrence]]:
        db = self.store.db
        groups = {g["id"]: g for g in await self.store.call(db.groups)}
        pairs = []
        for member in await self.store.call(db.reminder_recipients):
            group = groups.get(member["group_id"])
            schedule = schedule_of(group) if group else None
            if group is None or schedule is None:
                continue
            # The label is the group's name as its members see it on their page; never its clinical focus.
            recipient = Recipient(member["id"], member["email"], member["display_name"], member["tz"], group["name"],
                                  invite_url(self.public_url, invite_secret(self.invite_key, member["invite_id"])))
            for item in occurrences(schedule, now, now + LOOKAHEAD):
                pairs.append((recipient, item))
        return pairs


def invite_message(member: Row, group: Row, link: str, clinic: Clinic) -> EmailMessage:
    """Return the email that gives a member their personal link: their name, the group's name, the link."""
    message = EmailMessage()
    message["Subject"] = f"Your link for {group['name']}"
    message["From"] = f"{clinic.name} <{clinic.from_address}>"
    message["To"] = member["email"]
    message["Date"] = format_datetime(datetime.datetime.now(datetime.UTC))
    message["Message-ID"] = make_msgid(domain=clinic.from_address.rpartition("@")[2] or None)
    lines = [f"Hello {member['display_name']},", "",
             f"This is your personal link for {group['name']}: your sessions in your time zone, a calendar to add, "
             '"Test my setup", and the Join button when a session opens.', "",
             "This link is yours alone; please do not share it:", link]
    if clinic.support:
        lines += ["", clinic.support]
    lines += ["", clinic.name]
    message.set_content("\n".join(lines))
    return message
