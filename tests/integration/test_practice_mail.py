"""The practice's email through a real SMTP server (aiosmtpd on 127.0.0.1, started and stopped here): the
reminder loop of a running server mails each member of a scheduled group their own local time and their own
link, once; "Send link" mails a member their invite. Nothing names another member or the group's focus."""

from __future__ import annotations

import datetime
import email
import email.policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from server.app import CONFIG
from server.practice.schedule import format_local
from server.practice.wiring import PRACTICE_API, REMINDERS
from tests.support.practice_api import ApiClient
from tests.support.server_process import free_port

MEMBERS = [("Ana", "ana@example.org", "America/Chicago"), ("Ben", "ben@example.org", "Europe/London"),
           ("Chitra", "chitra@example.org", "Asia/Kolkata")]
FOCUS = "Trauma recovery"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mailing(haven_factory, smtp):
    inbox, port = smtp
    haven = await haven_factory(
        f'[smtp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from_address = "groups@lakeside.example"\ntimeout = "5s"\n'
        '[practice]\nclinic_name = "Lakeside Counseling"\n')
    await haven.app[PRACTICE_API].accounts.create("lee@clinic.example", "clinician", "a clinician password")
    lee = ApiClient(haven.base_url)
    await lee.call("POST", "/api/v1/login", {"email": "lee@clinic.example", "password": "a clinician password"})
    yield haven, lee, inbox
    await lee.close()


def body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


async def test_the_reminder_loop_mails_each_member_their_own_time_and_link_once(mailing) -> None:
    haven, lee, inbox = mailing
    _, group = await lee.call("POST", "/api/v1/groups", {"name": "Evening group", "kind": "specialized",
                                                         "focus": FOCUS, "tz": "America/Chicago"})
    links = {}
    for name, address, zone in MEMBERS:
        _, added = await lee.call("POST", f"/api/v1/groups/{group['id']}/members",
                                  {"display_name": name, "email": address, "tz": zone})
        links[address] = added["invite_url"]
    # A session 50 minutes from now (Chicago wall time): its one-hour reminder is due.
    start = datetime.datetime.now(ZoneInfo("America/Chicago")).replace(second=0, microsecond=0) + \
        datetime.timedelta(minutes=50)
    status, _ = await lee.call("PUT", f"/api/v1/groups/{group['id']}/schedule",
                               {"start": start.strftime("%Y-%m-%dT%H:%M"), "duration": 60})
    assert status == 200
    loop = haven.app[REMINDERS]
    assert await loop.tick() == 3
    assert await loop.tick() == 0  # remembered as sent
    assert sorted(m["To"] for m in inbox.messages) == sorted(a for _, a, _ in MEMBERS)
    for message in inbox.messages:
        name, address, zone = next(m for m in MEMBERS if m[1] == message["To"])
        text = body(message)
        assert format_local(start.astimezone(datetime.UTC), zone) in text
        assert links[address] in text and f"Hello {name}," in text
        others = [n for n, a, _ in MEMBERS if a != address]
        assert not any(other in text or other in message["Subject"] for other in others)
        assert FOCUS not in text and FOCUS not in message["Subject"]
        assert "Lakeside Counseling" in message["From"]


async def test_send_link_mails_the_members_live_invite(mailing) -> None:
    haven, lee, inbox = mailing
    _, group = await lee.call("POST", "/api/v1/groups", {"name": "Evening group", "kind": "process", "tz": "UTC"})
    base = f"/api/v1/groups/{group['id']}/members"
    _, ana = await lee.call("POST", base, {"display_name": "Ana", "email": "ana@example.org"})
    _, nomail = await lee.call("POST", base, {"display_name": "Ben"})
    status, shown = await lee.call("GET", f"{base}/{ana['member']['id']}/invite")
    assert status == 200 and shown["invite_url"] == ana["invite_url"]  # copy any time: derived, not stored
    assert (await lee.call("POST", f"{base}/{ana['member']['id']}/invite/send"))[0] == 204
    assert len(inbox.messages) == 1 and ana["invite_url"] in body(inbox.messages[0])
    status, refused = await lee.call("POST", f"{base}/{nomail['member']['id']}/invite/send")
    assert (status, refused["error"]) == (409, "no-email")
    await lee.call("DELETE", f"{base}/{ana['member']['id']}/invite")
    status, refused = await lee.call("POST", f"{base}/{ana['member']['id']}/invite/send")
    assert (status, refused["error"]) == (404, "no-invite")
    assert haven.app[CONFIG].smtp.enabled
