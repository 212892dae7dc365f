"""Owns session reminders by email: which are due (pure), what one says, sending it, and the loop that does both.

The rule for what is due (`due`): a reminder `offset` before a session is sent once, from `offset` before
the start while at least half of `offset` remains. So the 24 h reminder goes out between 24 h and 12 h
before, the 1 h reminder between 60 and 30 minutes before; a server that was down, or a session added or
moved late, sends only the reminder whose window it is in (never "your session is in 24 hours" two hours
before). Cancelled and past sessions get none.

A reminder holds the member's own display name, the group's label as the member sees it, the time in the
member's zone, their link and the clinic's contact: never other members' names or the group's clinical
focus. Logs and counters hold no addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
import structlog

from server.config import SmtpConfig

from .schedule import Occurrence, format_local

log = structlog.get_logger("haven.reminders")

OFFSETS = (timedelta(hours=24), timedelta(hours=1))


@dataclass(frozen=True)
class Reminder:
    """One reminder to send: `offset` before `occurrence`."""

    occurrence: Occurrence
    offset: timedelta

    @property
    def sent_key(self) -> tuple[str, timedelta]:
        """Return what the sent-store remembers for this reminder: (occurrence key, offset)."""
        return (self.occurrence.key, self.offset)


def due(
    items: Iterable[Occurrence],
    now: datetime,
    sent: set[tuple[str, timedelta]],
    offsets: tuple[timedelta, ...] = OFFSETS,
) -> list[Reminder]:
    """Return the reminders due at `now` that are not in `sent`, by the rule in the module docstring."""
    found = []
    for item in items:
        if item.cancelled:
            continue
        remaining = item.start - now
        for offset in offsets:
            if offset / 2 <= remaining <= offset and (item.key, offset) not in sent:
                found.append(Reminder(item, offset))
    return found


@dataclass(frozen=True)
class Recipient:
    """One member as a reminder needs them: a stable id for the sent-store, and only what goes in the message."""

    member_id: str
    address: str
    display_name: str
    tz: str
    label: str  # the group as this member sees it: never the clinical focus
    link: str


@dataclass(frozen=True)
class Clinic:
    """Who the reminders come from."""

    name: str
    from_address: str
    support: str = ""


def compose(reminder: Reminder, recipient: Recipient, clinic: Clinic) -> EmailMessage:
    """Return the reminder email for one member: their local time with its zone, and their link."""
    when = format_local(reminder.occurrence.start, recipient.tz)
    soon = "tomorrow" if reminder.offset >= timedelta(hours=12) else "soon"
    message = EmailMessage()
    message["Subject"] = f"Reminder: {recipient.label}, {when}"
    message["From"] = f"{_header_safe(clinic.name)} <{clinic.from_address}>"
    message["To"] = recipient.address
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=clinic.from_address.rpartition("@")[2] or None)
    lines = [
        f"Hello {recipient.display_name},",
        "",
        f"Your session of {recipient.label} is {soon}: {when}.",
        "",
        "Join from here (this link is yours alone; please do not share it):",
        recipient.link,
        "",
        'Before your first session, use "Test my setup" on that page to check your camera, microphone and connection.',
    ]
    if clinic.support:
        lines += ["", clinic.support]
    lines += ["", clinic.name]
    message.set_content("\n".join(lines))
    return message


def _header_safe(text: str) -> str:
    return " ".join(text.replace('"', "").replace("<", "").replace(">", "").split())


class Mailer:
    """Sends email through the configured SMTP server on the event loop; counts sent and failed, logs no address."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.sent = 0
        self.failed = 0
        self._password = config.password
        if config.password_file:
            self._password = Path(config.password_file).read_text().strip()
        # Certificates are always checked; ca_file adds a clinic's own CA to the system's.
        self._tls = ssl.create_default_context(cafile=config.ca_file or None)

    async def send(self, message: EmailMessage) -> bool:
        """Send one message; return whether the server accepted it. Never raises for a mail problem."""
        config = self.config
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username or None,
                password=self._password or None,
                use_tls=config.security == "ssl",
                start_tls=config.security == "starttls",
                tls_context=self._tls if config.security != "none" else None,
                timeout=config.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.failed += 1
            # The exception text can quote addresses back (a refused recipient): log only its kind.
            log.warning("mail_send_failed", error=type(exc).__name__)
            return False
        self.sent += 1
        return True


class SentStore(Protocol):
    """Remembers which reminders each member has had (the practice keeps it in SQLite)."""

    async def sent(self, member_id: str) -> set[tuple[str, timedelta]]: ...

    async def record(self, member_id: str, key: str, offset: timedelta) -> None: ...


class MemorySentStore:
    """A SentStore in memory, for tests and single-process use."""

    def __init__(self) -> None:
        self._sent: dict[str, set[tuple[str, timedelta]]] = {}

    async def sent(self, member_id: str) -> set[tuple[str, timedelta]]:
        return set(self._sent.get(member_id, set()))

    async def record(self, member_id: str, key: str, offset: timedelta) -> None:
        self._sent.setdefault(member_id, set()).add((key, offset))


Provider = Callable[[datetime], Awaitable[Iterable[tuple[Recipient, Occurrence]]]]
Send = Callable[[EmailMessage], Awaitable[bool]]


class ReminderLoop:
    """Every `interval` seconds: asks `provider` for (recipient, occurrence) pairs and sends what is due.

    Bounded (at most `max_per_tick` messages a tick), cancellable (`stop`), and never raises out: a failing
    provider, store or mail server is logged and counted, and the next tick tries again.
    """

    def __init__(
        self,
        provider: Provider,
        store: SentStore,
        send: Send,
        clinic: Clinic,
        *,
        interval: float = 60.0,
        max_per_tick: int = 50,
        offsets: tuple[timedelta, ...] = OFFSETS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self.store = store
        self.send = send
        self.clinic = clinic
        self.interval = interval
        self.max_per_tick = max_per_tick
        self.offsets = offsets
        self.clock = clock
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """Send the reminders due now, at most max_per_tick; return how many the mail server accepted."""
        accepted = 0
        attempts = 0
        try:
            now = self.clock()
            pairs = list(await self.provider(now))
            for recipient, item in pairs:
                if attempts >= self.max_per_tick:
                    break
                sent = await self.store.sent(recipient.member_id)
                for reminder in due([item], now, sent, self.offsets):
                    if attempts >= self.max_per_tick:
                        break
                    attempts += 1
                    if await self.send(compose(reminder, recipient, self.clinic)):
                        await self.store.record(recipient.member_id, *reminder.sent_key)
                        accepted += 1
        except Exception as exc:  # the loop must outlive any one bad tick
            self.errors += 1
            log.warning("reminder_tick_failed", error=type(exc).__name__)
        return accepted

    async def run(self) -> None:
        """Tick forever, every `interval` seconds, until cancelled."""
        while True:
            await self.tick()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start the loop as a task (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="haven-reminders")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
