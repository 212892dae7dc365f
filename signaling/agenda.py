"""The session agenda: phases with durations, the current phase, and when it started."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ProtocolError
from .limits import MAX_AGENDA_PHASES, MAX_PHASE_MINUTES, MAX_PHASE_TITLE_CHARS

# The one list of agenda templates: the server sends it to clients in ``hello``.
TEMPLATE_NAMES: dict[str, str] = {
    "default": "Default", "psychoeducational": "Psychoeducational", "process": "Process group",
    "specialized": "Specialized", "family": "Family",
}
TEMPLATES: dict[str, list[tuple[str, int]]] = {
    "default": [("Check-in", 10), ("Topic introduction", 10), ("Activities", 20), ("Open discussion", 20),
                ("Closing & homework", 10)],
    "psychoeducational": [("Check-in", 10), ("Topic presentation", 20), ("Skills practice", 20),
                          ("Questions & discussion", 15), ("Closing & homework", 5)],
    "process": [("Check-in", 15), ("Open process", 45), ("Reflection", 15), ("Closing", 5)],
    "specialized": [("Check-in", 10), ("Focus topic", 15), ("Structured exercise", 25), ("Sharing", 15),
                    ("Closing & homework", 5)],
    "family": [("Check-in", 10), ("Communication exercise", 20), ("Guided discussion", 25),
               ("Plan for the week", 10), ("Closing", 5)],
}


@dataclass(frozen=True)
class Phase:
    """One agenda item."""

    title: str
    minutes: int


def parse_phases(value: object) -> list[Phase]:
    """Validate a client's phase list against the limits of signaling/limits.py."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_AGENDA_PHASES:
        raise ProtocolError("bad-request", f'"phases" must be a list of 1 to {MAX_AGENDA_PHASES} phases')
    phases = []
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError("bad-request", 'each phase must be an object with "title" and "minutes"')
        title, minutes = item.get("title"), item.get("minutes")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= MAX_PHASE_TITLE_CHARS:
            raise ProtocolError("bad-request", f"a phase title must have 1 to {MAX_PHASE_TITLE_CHARS} characters")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_PHASE_MINUTES:
            raise ProtocolError("bad-request", f"a phase must last 1 to {MAX_PHASE_MINUTES} minutes")
        phases.append(Phase(title.strip(), minutes))
    return phases


def describe_templates() -> list[dict]:
    """Return the templates in their ``hello`` form."""
    return [{"id": key, "name": TEMPLATE_NAMES[key],
             "phases": [{"title": title, "minutes": minutes} for title, minutes in phases]}
            for key, phases in TEMPLATES.items()]


class Agenda:
    """Phases of a session and where the group is in them; times are epoch seconds."""

    def __init__(self, phases: list[Phase], now: float) -> None:
        self.phases = phases
        self.current = 0
        self.phase_started_at = now
        self.overrun_warned = False

    @classmethod
    def from_template(cls, name: str, now: float) -> Agenda:
        """Start an agenda from a named template."""
        if name not in TEMPLATES:
            raise ProtocolError("bad-request", f"unknown template {name!r}; one of {', '.join(TEMPLATES)}")
        return cls([Phase(title, minutes) for title, minutes in TEMPLATES[name]], now)

    def set_phase(self, index: int, now: float) -> None:
        """Move to a phase and restart its clock."""
        if not 0 <= index < len(self.phases):
            raise ProtocolError("bad-request", f"the agenda has phases 0 to {len(self.phases) - 1}")
        self.current = index
        self.phase_started_at = now
        self.overrun_warned = False

    def next(self, now: float) -> None:
        """Move to the next phase; on the last phase nothing changes (its clock keeps running)."""
        if self.current + 1 < len(self.phases):
            self.set_phase(self.current + 1, now)

    def update(self, phases: list[Phase]) -> None:
        """Replace titles and durations, keeping the current phase (clamped) and its clock."""
        self.phases = phases
        self.current = min(self.current, len(phases) - 1)
        self.overrun_warned = False

    def overran(self, now: float) -> bool:
        """Tell once per phase that the current phase has run past its duration."""
        if self.overrun_warned or now - self.phase_started_at <= self.phases[self.current].minutes * 60:
            return False
        self.overrun_warned = True
        return True

    def describe(self) -> dict:
        """Return the protocol form of the agenda."""
        return {"phases": [{"title": p.title, "minutes": p.minutes} for p in self.phases],
                "current": self.current, "phase_started_at": int(self.phase_started_at * 1000)}
