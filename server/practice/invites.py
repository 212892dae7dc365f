"""Personal invites: one opaque link per member (and guest) per group, stored hashed, revocable at once,
exchanged inside the join window for a short-lived single-use join token bound to the member's stable id.

The secret travels in the link's fragment (``/invite#<secret>``), which browsers never send to servers,
so it never reaches an access log; the invite page posts it to the API. A facilitator's start makes a
host token the same way, for the same occurrence room.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from server.auth import TokenIssuer, join_url

from .accounts import Audit, Caller, digest
from .calendar import member_calendar
from .errors import PracticeError
from .groups import schedule_of
from .store import PracticeStore, Row, new_id
from .windows import OccurrenceLike, room_for, window_state

MAX_SECRET_CHARS = 100
UPCOMING_DAYS = 28  # how far ahead the invite page and the dashboard list sessions
MAX_UPCOMING = 20

# (group, start, end) -> the group's occurrences between start and end (aware UTC datetimes).
OccurrencesOf = Callable[[Row, datetime.datetime, datetime.datetime], list[Any]]


def invite_url(public_url: str, secret: str) -> str:
    return f"{public_url.rstrip('/')}/invite#{secret}"


def invite_secret(key: bytes, invite_id: str) -> str:
    """Return an invite's secret, derived from its id with a key derived from the server secret.

    Only its hash is stored, so the database alone opens no member's page; the server can still give a
    member's link again (copy, resend, reminders) without keeping it. Whoever holds the server secret can
    mint any join token anyway, so deriving from it adds no exposure.
    """
    return base64.urlsafe_b64encode(hmac.new(key, invite_id.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()


def feed_secret(key: bytes, secret: str) -> str:
    """Return the calendar feed address part of an invite: derived from it, so only its hash is stored.

    A feed is fetched by calendar apps with the address in the URL path (no fragment to hide it in), so it
    is a different secret from the invite's: a feed address seen in a proxy's log opens no member page.
    """
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def occurrence_json(occurrence: OccurrenceLike, group_id: str) -> dict[str, Any]:
    return {"key": occurrence.key, "start": _iso(occurrence.start), "end": _iso(occurrence.end),
            "cancelled": occurrence.cancelled, "room": room_for(group_id, occurrence.key)}


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Invites:
    def __init__(self, store: PracticeStore, audit: Audit, issuer: TokenIssuer, occurrences_of: OccurrencesOf, *,
                 public_url: str, join_window: float, token_ttl: float, max_ttl: float,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.audit = audit
        self.issuer = issuer
        self.occurrences_of = occurrences_of
        self.public_url = public_url
        self.join_window = join_window
        self.token_ttl = min(token_ttl, max_ttl)
        self.clock = clock
        self.feed_key = issuer.calendar_key()
        self.invite_key = issuer.invite_key()

    def feed_url(self, secret: str) -> str:
        return f"{self.public_url.rstrip('/')}/calendar/{feed_secret(self.feed_key, secret)}.ics"

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)

    def upcoming(self, group: Row) -> list[Any]:
        """Return the group's occurrences from now on (cancelled ones included, marked), at most MAX_UPCOMING."""
        now = self.now()
        found = self.occurrences_of(group, now - datetime.timedelta(hours=12), now + datetime.timedelta(
            days=UPCOMING_DAYS))
        return [o for o in found if o.end > now][:MAX_UPCOMING]

    # -- the facilitator's side -------------------------------------------------------------------

    async def issue(self, caller: Caller, member: Row) -> str:
        """Make the member's one live link (revoking any earlier one); return its URL, shown this once."""
        if member["status"] != "active":
            raise PracticeError(409, "member-discharged", "a discharged member gets no invite")
        invite_id = new_id("i")
        secret = invite_secret(self.invite_key, invite_id)
        await self.store.call(self.store.db.replace_invite, member["id"], invite_id, digest(secret),
                              digest(feed_secret(self.feed_key, secret)))
        self.audit.audit("invite-issued", actor=caller.account["id"], role=caller.account["role"],
                         subject=member["id"], detail={"group": member["group_id"]})
        return invite_url(self.public_url, secret)

    async def link(self, member: Row) -> str | None:
        """Return the member's live invite link again, or None when they have none."""
        invite = await self.store.call(self.store.db.live_invite, member["id"])
        return None if invite is None else invite_url(self.public_url, invite_secret(self.invite_key, invite["id"]))

    async def revoke(self, caller: Caller, member: Row) -> None:
        count = await self.store.call(self.store.db.revoke_invites, member["id"])
        self.audit.audit("invite-revoked", actor=caller.account["id"], role=caller.account["role"],
                         subject=member["id"], detail={"group": member["group_id"], "revoked": count})

    async def start(self, caller: Caller, group: Row, key: str | None) -> dict[str, Any]:
        """Return a host join link for the group's occurrence open now (or ``key``, if it is open)."""
        occurrence = self._open_occurrence(group, key)
        name = caller.account["display_name"]
        token = self.issuer.issue(room_for(group["id"], occurrence.key), name, "host", self.token_ttl,
                                  sub=caller.account["id"], starts_at=occurrence.start.timestamp(), once=True)
        self.audit.audit("session-start-link", actor=caller.account["id"], role=caller.account["role"],
                         room=room_for(group["id"], occurrence.key), detail={"group": group["id"]})
        return {"join_url": join_url(self.public_url, room_for(group["id"], occurrence.key), token, group["name"]),
                "occurrence": occurrence_json(occurrence, group["id"])}

    def _open_occurrence(self, group: Row, key: str | None) -> Any:
        state = window_state(self.upcoming(group), self.now(), self.join_window)
        if state.open is None or (key is not None and state.open.key != key):
            raise PracticeError(409, "outside-window", "no session of this group is open for joining now",
                                next=occurrence_json(state.next, group["id"]) if state.next else None)
        return state.open

    # -- the member's side ------------------------------------------------------------------------

    async def holder(self, secret: object) -> tuple[Row, Row]:
        """Return (member, group) of a live invite; PracticeError for a wrong, revoked or discharged one."""
        if not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET_CHARS:
            raise PracticeError(400, "bad-request", "secret must be the invite's secret", field="secret")
        db = self.store.db
        invite = await self.store.call(db.invite, digest(secret))
        member = await self.store.call(db.member, invite["member_id"]) if invite else None
        if member is None or member["status"] != "active":
            self.audit.audit("invite-refused")
            raise PracticeError(404, "invite-invalid", "this link is no longer valid: ask your therapist for a new one")
        group = await self.store.call(db.group, member["group_id"])
        assert group is not None
        return member, group

    def calendar(self, member: Row, group: Row, link: str, support_text: str) -> bytes:
        """Return the member's .ics of the group's sessions; PracticeError when nothing is scheduled yet."""
        schedule = schedule_of(group)
        if schedule is None:
            raise PracticeError(404, "no-schedule", "no session is scheduled yet")
        # Stamped with the hour, not the second: the file (and its ETag) stays the same until the schedule
        # changes, so calendar apps polling the feed get 304s.
        hour = self.now().replace(minute=0, second=0, microsecond=0)
        return member_calendar(group["name"], schedule, link, member["tz"], calendar_id=member["id"],
                               now=hour, support=support_text)

    async def feed_holder(self, feed: str) -> tuple[Row, Row]:
        """Return (member, group) of the live invite whose calendar feed this is."""
        db = self.store.db
        invite = await self.store.call(db.invite_by_feed, digest(feed)) if len(feed) <= MAX_SECRET_CHARS else None
        member = await self.store.call(db.member, invite["member_id"]) if invite else None
        if member is None or member["status"] != "active":
            raise PracticeError(404, "invite-invalid", "this calendar is no longer available")
        group = await self.store.call(db.group, member["group_id"])
        assert group is not None
        return member, group

    def page(self, member: Row, group: Row, support_text: str, secret: str) -> dict[str, Any]:
        """Return what the member's page shows: their sessions (UTC; the page shows them in ``tz``), no one else."""
        upcoming = self.upcoming(group)
        state = window_state(upcoming, self.now(), self.join_window)
        return {
            "member": {"display_name": member["display_name"], "tz": member["tz"],
                       "setup_passed": member["setup_passed_at"] is not None},
            "group": {"name": group["name"]},
            "support_text": support_text,
            "join_window_s": self.join_window,
            "calendar_feed_url": self.feed_url(secret),
            "upcoming": [occurrence_json(o, group["id"]) for o in upcoming],
            "open": occurrence_json(state.open, group["id"]) if state.open else None,
            "next": occurrence_json(state.next, group["id"]) if state.next else None,
        }

    async def setup_checked(self, secret: object, passed: object) -> bool:
        """Record a member's "Test my setup" result; the facilitator sees who has passed (the last pass counts)."""
        if not isinstance(passed, bool):
            raise PracticeError(400, "bad-request", "passed must be true or false", field="passed")
        member, group = await self.holder(secret)
        if passed:
            await self.store.call(self.store.db.update_member, member["id"], setup_passed_at=self.clock())
        self.audit.audit("setup-check", actor=member["id"], role="participant", detail={"group": group["id"],
                                                                                          "passed": passed})
        return passed

    async def join(self, secret: object) -> dict[str, Any]:
        """Exchange a live invite, inside the window, for a single-use join link to the occurrence's room."""
        member, group = await self.holder(secret)
        occurrence = self._open_occurrence(group, None)
        room = room_for(group["id"], occurrence.key)
        token = self.issuer.issue(room, member["display_name"], "participant", self.token_ttl, sub=member["id"],
                                  starts_at=occurrence.start.timestamp(), once=True)
        self.audit.audit("invite-join", actor=member["id"], role="participant", room=room,
                         detail={"group": group["id"]})
        return {"join_url": join_url(self.public_url, room, token, group["name"]),
                "occurrence": occurrence_json(occurrence, group["id"])}
