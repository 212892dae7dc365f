"""What of a session in progress survives a server restart: its structure, never its chat.

``take`` turns a session's state into a plain JSON-able value — its id, settings, agenda, check-in round,
hands, floor and spotlight, homework, breakouts, and who was admitted where with which role — and
``restore`` puts it back into a fresh Room and Breakouts. Chat, media, names, emergency information and
anything else personal beyond participant ids are never part of it (docs/architecture.md, never-rules).
The server keeps the latest snapshot of each live session (``SnapshotStore``) and drops it when the session
ends or empties; a restart that finds one continues that session (docs/protocol.md 5.4).
"""

from __future__ import annotations

from typing import Any, Protocol

from .agenda import Agenda, Phase
from .breakouts import BreakoutRoom, Breakouts
from .checkin import CheckinRound
from .room import RESTARTED, Departure, Room

VERSION = 1


class SnapshotStore(Protocol):
    """Where the latest snapshot of each live session is kept (server/storage.py: SQLite). Must not block."""

    def save_snapshot(self, room: str, snapshot: dict[str, Any]) -> None: ...

    def load_snapshot(self, room: str) -> dict[str, Any] | None: ...

    def drop_snapshot(self, room: str) -> None: ...


class NullSnapshots:
    """Keeps nothing (a server without durable storage, and most tests)."""

    def save_snapshot(self, room: str, snapshot: dict[str, Any]) -> None:
        return None

    def load_snapshot(self, room: str) -> dict[str, Any] | None:
        return None

    def drop_snapshot(self, room: str) -> None:
        return None


def take(room: Room, breakouts: Breakouts, now: float) -> dict[str, Any]:
    """Return the session's structure as a plain value."""
    agenda = room.agenda
    checkin = room.checkin
    return {
        "version": VERSION, "saved_at": now, "session_id": room.session_id, "started_at": room.started_at,
        "settings": {name: getattr(room.settings, name) for name in room.settings.NAMES},
        "agenda": None if agenda is None else {
            "phases": [[p.title, p.minutes] for p in agenda.phases], "current": agenda.current,
            "phase_started_at": agenda.phase_started_at},
        "checkin": None if checkin is None else {
            "order": list(checkin.order), "current": checkin.current, "done": list(checkin.done),
            "passed": list(checkin.passed)},
        "hands": list(room.hands), "floor": room.floor, "spotlight": room.spotlight,
        "homework": list(room.homework) if room.homework else None,
        "screen_allowed": sorted(room.screen_allowed), "banned": sorted(room.banned),
        "sent_away": sorted(room.sent_away),
        "admitted": {p.id: {"role": p.role, "location": p.location} for p in room.admitted()},
        "host_was_present": room.host_present or room.host_away_reason is not None,
        "breakouts": {
            "open": breakouts.open, "ends_at": breakouts.ends_at, "self_select": breakouts.self_select,
            "rooms": [{"name": r.name, "planned": sorted(r.planned), "help": r.help_requested}
                      for r in breakouts.rooms.values()]},
    }


def restore(room: Room, breakouts: Breakouts, data: dict[str, Any], now: float) -> None:
    """Put a snapshot back into a fresh Room and Breakouts (a snapshot of another version is ignored)."""
    if data.get("version") != VERSION:
        return
    room.session_id = str(data["session_id"])
    room.started_at = float(data["started_at"])
    room.change_settings({k: bool(v) for k, v in data["settings"].items() if k in room.settings.NAMES})
    agenda = data.get("agenda")
    if agenda:
        room.agenda = Agenda([Phase(str(t), int(m)) for t, m in agenda["phases"]], float(agenda["phase_started_at"]))
        room.agenda.current = int(agenda["current"])
    checkin = data.get("checkin")
    if checkin:
        round_ = CheckinRound(list(checkin["order"]))
        round_.current = checkin["current"]
        round_.done, round_.passed = list(checkin["done"]), list(checkin["passed"])
        room.checkin = round_
    room.hands = list(data.get("hands") or [])
    room.floor = data.get("floor")
    room.spotlight = data.get("spotlight")
    homework = data.get("homework")
    room.homework = (str(homework[0]), float(homework[1])) if homework else None
    room.screen_allowed = set(data.get("screen_allowed") or [])
    room.banned = set(data.get("banned") or [])
    room.sent_away = set(data.get("sent_away") or [])
    for pid, place in (data.get("admitted") or {}).items():
        room.admitted_ever.add(pid)
        room.departed[pid] = Departure(RESTARTED, str(place["role"]), str(place["location"]), True)
    if data.get("host_was_present"):
        # Until a host is back the members are told so, and their media waits (signaling/parts/continuity.py).
        room.host_away_reason = "disconnected"
        room.no_host_since = now
    saved = data.get("breakouts") or {}
    breakouts.rooms = {r["name"]: BreakoutRoom(r["name"], set(r["planned"]), bool(r["help"]))
                       for r in saved.get("rooms", [])}
    breakouts.open = bool(saved.get("open")) and bool(breakouts.rooms)
    breakouts.ends_at = saved.get("ends_at")
    breakouts.self_select = bool(saved.get("self_select"))
