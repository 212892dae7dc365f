"""A session's record from the steps signaling kept as it ran (signaling/records.py SESSION_EVENT_KINDS):
phases actually run with their times, who took part in the check-in and who passed, homework given and
breakouts used. Pure: the steps come opened (server/storage.py seals them at rest)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from signaling.records import BREAKOUTS_CLOSED, BREAKOUTS_OPENED, CHECKIN_TURN, HOMEWORK, PHASE_STARTED

Step = tuple[str, float, dict[str, Any]]  # kind, at, detail
Iso = Callable[[float | None], str | None]


def build(steps: Sequence[Step], ended_at: float | None, names: Mapping[str, str], iso: Iso) -> dict[str, Any]:
    """Return the record's phases, check-in, homework and breakouts (the API's ``SessionRecord`` parts)."""
    phases: list[dict[str, Any]] = []
    checkin: list[dict[str, Any]] = []
    homework: list[dict[str, Any]] = []
    breakouts: list[dict[str, Any]] = []
    for kind, at, detail in steps:
        if kind == PHASE_STARTED:
            if phases and phases[-1]["ended_at"] is None:
                phases[-1]["ended_at"] = iso(at)
            phases.append({"index": detail.get("index"), "title": detail.get("title"), "started_at": iso(at),
                           "ended_at": None})
        elif kind == CHECKIN_TURN:
            who = str(detail.get("participant", ""))
            checkin.append({"member_id": who, "display_name": names.get(who),
                            "outcome": "passed" if detail.get("outcome") == "passed" else "took-part"})
        elif kind == HOMEWORK and isinstance(detail.get("text"), str):
            homework.append({"at": iso(at), "text": detail["text"]})
        elif kind == BREAKOUTS_OPENED:
            rooms = detail.get("rooms") if isinstance(detail.get("rooms"), list) else []
            breakouts.append({"opened_at": iso(at), "closed_at": None, "rooms": rooms})
        elif kind == BREAKOUTS_CLOSED and breakouts and breakouts[-1]["closed_at"] is None:
            breakouts[-1]["closed_at"] = iso(at)
    # What was still running when the session ended ended with it.
    if phases and phases[-1]["ended_at"] is None:
        phases[-1]["ended_at"] = iso(ended_at)
    if breakouts and breakouts[-1]["closed_at"] is None:
        breakouts[-1]["closed_at"] = iso(ended_at)
    return {"phases": phases, "checkin": checkin, "homework": homework, "breakouts": breakouts}
