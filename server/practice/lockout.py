"""Login lockout as a pure rule: after ``max_failures`` wrong passwords or codes in a row an account is locked
for ``duration`` seconds; a successful login resets the count. Throttling by client address is separate
(``LoginThrottle``), so one attacker cannot lock out everyone by guessing, nor guess fast across accounts."""

from __future__ import annotations

from dataclasses import dataclass

from signaling.ratelimit import TokenBucket


@dataclass(frozen=True)
class LockState:
    """An account's failures in a row and, when locked, until when."""

    failures: int = 0
    locked_until: float | None = None

    def locked(self, now: float) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class Lockout:
    max_failures: int
    duration: float

    def failed(self, state: LockState, now: float) -> LockState:
        """Return the state after one more failure; the count starts again once a lock has run out."""
        failures = (0 if state.locked_until is not None and now >= state.locked_until else state.failures) + 1
        if failures >= self.max_failures:
            return LockState(failures, now + self.duration)
        return LockState(failures, None)

    def succeeded(self) -> LockState:
        return LockState()


class LoginThrottle:
    """A token bucket per client address: a burst of attempts, then one every ``1 / rate`` seconds."""

    MAX_CLIENTS = 10000  # forget the oldest buckets beyond this, so a flood of addresses cannot grow memory

    def __init__(self, rate: float = 0.2, burst: int = 10) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, client: str, now: float) -> bool:
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.MAX_CLIENTS:
                self._buckets.pop(next(iter(self._buckets)))
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)
