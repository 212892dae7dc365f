"""A token bucket per connection, with the clock passed in so it tests without sleeping."""

from __future__ import annotations


class TokenBucket:
    """Allows ``rate`` messages per second on average and bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now
        self.refused_in_a_row = 0

    def take(self, now: float) -> bool:
        """Spend one token if there is one; return whether the message may proceed."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False

    def abusive(self) -> bool:
        """Tell whether the sender kept going for more than a further burst while refused."""
        return self.refused_in_a_row > self.burst
