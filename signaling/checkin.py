"""A check-in round: a talking order, the current speaker, who spoke and who passed."""

from __future__ import annotations

import random

from .errors import ProtocolError


class CheckinRound:
    """Walks a talking order one speaker at a time; ``current`` is None once everyone had a turn."""

    def __init__(self, order: list[str]) -> None:
        if not order:
            raise ProtocolError("bad-request", "a check-in round needs at least one participant")
        self.order = list(dict.fromkeys(order))
        self.done: list[str] = []
        self.passed: list[str] = []
        self.current: str | None = self.order[0]

    @classmethod
    def start(cls, eligible: list[str], order: list[str] | None, shuffle: bool, rng: random.Random) -> CheckinRound:
        """Start a round over eligible participants: a given order, a random one, or arrival order."""
        if order is not None:
            unknown = [pid for pid in order if pid not in eligible]
            if unknown:
                raise ProtocolError("unknown-participant", "the order names someone who is not in the room")
            return cls(order)
        talking = list(eligible)
        if shuffle:
            rng.shuffle(talking)
        return cls(talking)

    def advance(self, passed: bool = False) -> str | None:
        """End the current turn (as a pass or not) and return the next speaker, or None at the end."""
        if self.current is None:
            return None
        (self.passed if passed else self.done).append(self.current)
        index = self.order.index(self.current) + 1
        self.current = self.order[index] if index < len(self.order) else None
        return self.current

    def forget(self, participant_id: str) -> None:
        """Drop someone who left; if they were speaking, the next one speaks."""
        if participant_id == self.current:
            index = self.order.index(participant_id)
            self.order.remove(participant_id)
            self.current = self.order[index] if index < len(self.order) else None
        elif participant_id in self.order and participant_id not in self.done + self.passed:
            self.order.remove(participant_id)

    def describe(self) -> dict:
        """Return the protocol form of the round."""
        return {"order": list(self.order), "current": self.current, "done": list(self.done),
                "passed": list(self.passed)}
