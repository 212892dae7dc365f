"""Tests for server.practice.reminders' pure parts: which reminders are due, and what one says."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from server.practice.reminders import OFFSETS, Clinic, Recipient, Reminder, compose, due
from server.practice.schedule import Schedule, occurrence, occurrences

DAY, HOUR = timedelta(hours=24), timedelta(hours=1)
GROUP = Schedule(
    tz="America/Chicago", start=datetime(2027, 3, 15, 18, 0), duration=90, rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4"
)
FIRST = occurrence(GROUP, "20270315T1800")
assert FIRST is not None
START = FIRST.start  # 23:00 UTC
CLINIC = Clinic(name="Lakeside Counseling", from_address="reminders@lakeside.example", support="Call 555-0100.")


def at(before: timedelta) -> list[tuple[str, timedelta]]:
    return [r.sent_key for r in due([FIRST], START - before, set())]


def test_24_hour_reminder_is_due_from_24_to_12_hours_before() -> None:
    assert at(DAY) == [(FIRST.key, DAY)]
    assert at(timedelta(hours=13)) == [(FIRST.key, DAY)]
    assert at(timedelta(hours=12)) == [(FIRST.key, DAY)]
    assert at(DAY + timedelta(minutes=1)) == []


def test_late_start_sends_only_the_reminder_whose_window_it_is_in() -> None:
    assert at(timedelta(hours=2)) == []  # never "in 24 hours" two hours before
    assert at(timedelta(minutes=50)) == [(FIRST.key, HOUR)]
    assert at(timedelta(minutes=29)) == []
    assert at(-timedelta(minutes=5)) == []  # started


def test_sent_reminders_are_not_due_again() -> None:
    assert due([FIRST], START - HOUR, {(FIRST.key, HOUR)}) == []
    assert due([FIRST], START - DAY, {(FIRST.key, HOUR)}) == [Reminder(FIRST, DAY)]


def test_cancelled_sessions_get_no_reminder_and_moved_ones_follow_their_new_time() -> None:
    cancelled = GROUP.with_cancelled(FIRST.key)
    assert due(occurrences(cancelled, START - DAY, START + DAY), START - HOUR, set()) == []
    moved = occurrence(GROUP.with_moved(FIRST.key, start=datetime(2027, 3, 16, 18, 0)), FIRST.key)
    assert moved is not None
    assert due([moved], START - HOUR, set()) == []
    assert due([moved], moved.start - HOUR, set()) == [Reminder(moved, HOUR)]


def test_offsets_are_24_hours_and_1_hour_by_default() -> None:
    assert OFFSETS == (DAY, HOUR)


def test_message_gives_the_member_local_time_and_link_only() -> None:
    recipient = Recipient(
        "m1", "sam@example.org", "Sam", "Asia/Kolkata", "Monday evening group", "https://h.example/i/s"
    )
    message = compose(Reminder(FIRST, DAY), recipient, CLINIC)
    body = message.get_content()
    assert message["Subject"] == "Reminder: Monday evening group, Tue 16 Mar, 04:30 IST"
    assert message["To"] == "sam@example.org"
    assert message["From"] == "Lakeside Counseling <reminders@lakeside.example>"
    assert "Hello Sam," in body
    assert "tomorrow: Tue 16 Mar, 04:30 IST." in body
    assert "https://h.example/i/s" in body
    assert "Call 555-0100." in body
    soon = compose(Reminder(FIRST, HOUR), recipient, CLINIC).get_content()
    assert "is soon: Tue 16 Mar, 04:30 IST." in soon


def test_smtp_config_is_validated_naming_the_key(tmp_path) -> None:
    from server.config import ConfigError, load_config

    def refusal(text: str, env: dict[str, str] | None = None) -> ConfigError:
        path = tmp_path / "haven.toml"
        path.write_text(text)
        try:
            load_config(path, env=env or {})
        except ConfigError as exc:
            return exc
        raise AssertionError("accepted")

    assert refusal("[smtp]\nenabled = true\nfrom_address = 'a@b.example'\n").key == "smtp.host"
    assert refusal("[smtp]\nenabled = true\nhost = 'mail'\n").key == "smtp.from_address"
    assert refusal("[smtp]\nfrom_address = 'not an address'\n").key == "smtp.from_address"
    assert refusal("[smtp]\nsecurity = 'tls'\n").key == "smtp.security"
    assert refusal("[smtp]\nusername = 'haven'\n").key == "smtp.password_file"
    assert refusal("[smtp]\nusername = 'haven'\npassword_file = '/nonexistent/pw'\n").key == "smtp.password_file"
    error = refusal("[smtp]\npassword = 'secret-value'\n")
    assert error.key == "smtp.username"
    assert refusal("", {"HAVEN_SMTP_PORT": "0"}).variable == "HAVEN_SMTP_PORT"
    ok = load_config(None, env={"HAVEN_SMTP_USERNAME": "haven", "HAVEN_SMTP_PASSWORD": "pw", "HAVEN_SMTP_HOST": "m"})
    assert ok.smtp.password == "pw" and ok.smtp.username == "haven"


@settings(max_examples=40, deadline=None)
@given(
    first_tick=st.integers(min_value=0, max_value=40 * 60),  # minutes before the start the server comes up
    interval=st.integers(min_value=1, max_value=90),  # minutes between ticks
)
def test_ticking_sends_each_reminder_at_most_once_and_never_late(first_tick: int, interval: int) -> None:
    sent: set[tuple[str, timedelta]] = set()
    when: dict[timedelta, timedelta] = {}
    minutes = first_tick
    while minutes >= -120:
        now = START - timedelta(minutes=minutes)
        for reminder in due([FIRST], now, sent):
            assert reminder.sent_key not in sent
            sent.add(reminder.sent_key)
            when[reminder.offset] = START - now
        minutes -= interval
    for offset, before in when.items():
        assert offset / 2 <= before <= offset
    # A server that was up from 24 h before and ticks at least every 12 h / 30 min sends both.
    if first_tick >= 24 * 60 and interval <= 30:
        assert set(when) == {DAY, HOUR}
