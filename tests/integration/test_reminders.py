"""Reminders through a real SMTP server (aiosmtpd on 127.0.0.1, started and stopped here): members in three
zones get their own local time and link, and nothing about the others or the group's focus."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from server.config import SmtpConfig
from server.practice.reminders import Clinic, Mailer, MemorySentStore, Recipient, ReminderLoop
from server.practice.schedule import Occurrence, Schedule, occurrences
from tests.support.certificates import self_signed
from tests.support.server_process import free_port

# What the clinician knows and the members must never see in a message about the others.
FOCUS = "Trauma recovery"
MEMBERS = [
    Recipient("m1", "ana@example.org", "Ana", "America/Chicago", "Evening group", "https://h.example/i/ana-secret"),
    Recipient("m2", "ben@example.org", "Ben", "Europe/London", "Evening group", "https://h.example/i/ben-secret"),
    Recipient("m3", "chitra@example.org", "Chitra", "Asia/Kolkata", "Evening group", "https://h.example/i/chi-secret"),
]
GROUP = Schedule(
    tz="America/Chicago", start=datetime(2027, 3, 15, 18, 0), duration=90, rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24"
)
# Loopback only; STARTTLS is aiosmtplib's own, tested upstream.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
CLINIC = Clinic("Lakeside Counseling", "reminders@lakeside.example", "Trouble joining? Call 555-0100.")


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"haven" and auth_data.password == b"mail-password"
    return AuthResult(success=ok)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False, auth_required=True
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def mailer(port: int, tmp_path, password: str = "mail-password") -> Mailer:
    secret = tmp_path / "smtp-password"
    secret.write_text(password + "\n")
    return Mailer(
        SmtpConfig(
            enabled=True,
            host="127.0.0.1",
            port=port,
            security="none",
            username="haven",
            password_file=str(secret),
            from_address=CLINIC.from_address,
            timeout=5.0,
        )
    )


def provider_for(now_holder: list[datetime]):
    async def provider(now: datetime) -> list[tuple[Recipient, Occurrence]]:
        window = occurrences(GROUP, now, now + timedelta(days=2))
        return [(member, item) for member in MEMBERS for item in window]

    return provider


async def test_members_in_three_zones_get_their_own_local_time_once(smtp, tmp_path) -> None:
    inbox, port = smtp
    first = occurrences(GROUP, datetime(2027, 3, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))[0]
    clock = [first.start - timedelta(hours=23)]
    store = MemorySentStore()
    loop = ReminderLoop(provider_for(clock), store, mailer(port, tmp_path).send, CLINIC, clock=lambda: clock[0])

    assert await loop.tick() == 3
    assert await loop.tick() == 0  # remembered as sent
    by_to = {m["To"]: m for m in inbox.messages}
    assert by_to["ana@example.org"]["Subject"] == "Reminder: Evening group, Mon 15 Mar, 18:00 CDT"
    assert by_to["ben@example.org"]["Subject"] == "Reminder: Evening group, Mon 15 Mar, 23:00 GMT"
    assert by_to["chitra@example.org"]["Subject"] == "Reminder: Evening group, Tue 16 Mar, 04:30 IST"
    assert inbox.recipients == [["ana@example.org"], ["ben@example.org"], ["chitra@example.org"]]

    clock[0] = first.start - timedelta(minutes=45)
    assert await loop.tick() == 3
    assert len(inbox.messages) == 6
    for message, to in zip(inbox.messages, inbox.recipients, strict=True):
        member = next(m for m in MEMBERS if m.address == to[0])
        body = message.get_content()
        assert member.link in body and f"Hello {member.display_name}," in body
        assert "Call 555-0100" in body
        others = [m for m in MEMBERS if m is not member]
        for other in others:
            assert other.display_name not in body and other.link not in body and other.address not in body
            assert other.display_name not in message["Subject"]
        assert FOCUS.lower() not in message.as_string().lower()


async def test_refused_login_is_counted_not_raised_and_retried(smtp, tmp_path) -> None:
    inbox, port = smtp
    first = occurrences(GROUP, datetime(2027, 3, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))[0]
    clock = [first.start - timedelta(minutes=40)]
    store = MemorySentStore()
    bad = mailer(port, tmp_path, password="wrong")
    loop = ReminderLoop(provider_for(clock), store, bad.send, CLINIC, clock=lambda: clock[0])
    assert await loop.tick() == 0
    assert bad.failed == 3 and bad.sent == 0 and inbox.messages == []
    assert await store.sent("m1") == set()  # not recorded, so the next tick tries again
    good = ReminderLoop(provider_for(clock), store, mailer(port, tmp_path).send, CLINIC, clock=lambda: clock[0])
    assert await good.tick() == 3


async def test_unreachable_server_and_failing_provider_never_stop_the_loop(tmp_path) -> None:
    down = mailer(free_port(), tmp_path)
    first = occurrences(GROUP, datetime(2027, 3, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))[0]
    clock = [first.start - timedelta(minutes=40)]
    loop = ReminderLoop(
        provider_for(clock), MemorySentStore(), down.send, CLINIC, clock=lambda: clock[0], max_per_tick=2
    )
    assert await loop.tick() == 0
    assert down.failed == 2  # bounded per tick

    async def broken(now: datetime) -> list[tuple[Recipient, Occurrence]]:
        raise RuntimeError("database is locked")

    failing = ReminderLoop(broken, MemorySentStore(), down.send, CLINIC, interval=0.01)
    failing.start()
    while failing.errors < 3:
        await asyncio.sleep(0.01)
    await failing.stop()
    assert failing.errors >= 3


def tls_server(tmp_path, *, implicit: bool) -> tuple[Inbox, Controller, object]:
    cert, key, _ = self_signed(tmp_path, "smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    # aiosmtpd does not count implicit TLS as TLS when deciding to offer AUTH, so that case allows it itself.
    options = (
        {"ssl_context": context, "auth_require_tls": False}
        if implicit
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate, auth_required=True, **options
    )
    return inbox, controller, cert


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_with_the_clinic_ca_delivers_and_an_unknown_certificate_is_refused(tmp_path, security) -> None:
    inbox, controller, cert = tls_server(tmp_path, implicit=security == "ssl")
    controller.start()
    try:
        secret = tmp_path / "smtp-password"
        secret.write_text("mail-password\n")
        settings = dict(
            enabled=True,
            host="127.0.0.1",
            port=controller.port,
            security=security,
            username="haven",
            password_file=str(secret),
            from_address=CLINIC.from_address,
            timeout=5.0,
        )
        first = occurrences(GROUP, datetime(2027, 3, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))[0]
        clock = [first.start - timedelta(minutes=40)]

        untrusted = Mailer(SmtpConfig(**settings))
        loop = ReminderLoop(provider_for(clock), MemorySentStore(), untrusted.send, CLINIC, clock=lambda: clock[0])
        assert await loop.tick() == 0
        assert (untrusted.failed, untrusted.sent, len(inbox.messages), loop.errors) == (3, 0, 0, 0)

        trusted = Mailer(SmtpConfig(**settings, ca_file=str(cert)))
        loop = ReminderLoop(provider_for(clock), MemorySentStore(), trusted.send, CLINIC, clock=lambda: clock[0])
        assert await loop.tick() == 3
        assert sorted(m["To"] for m in inbox.messages) == sorted(m.address for m in MEMBERS)
    finally:
        controller.stop()
