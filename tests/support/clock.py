"""A clock a test sets by hand: call it for the time, move ``now`` to let time pass."""

from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
