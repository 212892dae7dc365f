"""Histogram: bucketed counts of observations kept in plain ints, for the metrics to read at scrape time."""

from __future__ import annotations


class Histogram:
    """Cumulative bucket counts, count and sum of what one thread observes; any thread may read a snapshot.

    ``observe`` raises the count before the buckets and ``snapshot`` copies the buckets before the count,
    so a reader on another thread never sees a bucket above the count (which Prometheus would refuse).
    """

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * len(bounds)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        buckets = self.buckets
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                buckets[index] += 1

    def snapshot(self) -> tuple[list[tuple[str, int]], int, float]:
        """Return ``([(upper bound, cumulative count)…, ("+Inf", count)], count, sum)``."""
        buckets = list(self.buckets)
        count, total = self.count, self.sum
        return [*((f"{bound}", n) for bound, n in zip(self.bounds, buckets, strict=True)), ("+Inf", count)], \
            count, total
