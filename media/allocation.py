"""Which video each subscriber gets: a layer per track, or none, from its bandwidth and its screen.

Pure functions and one small state machine, no I/O: the Router feeds them what it measured each second.

The policy is audio first. A subscriber's audio is never cut. When what the subscriber can take is less
than what it would be sent, its video is cut down in this order: first the other members' video (not the
active speaker, not a large tile) drops to its lowest layer, then the speaker's and large tiles' too; then
the other members' video pauses, and only then everyone's. Video comes back in the reverse order once
the link allows it. A tile's size caps the layer: a small tile never needs the full-size picture.
"""

from __future__ import annotations

from dataclasses import dataclass

PAUSED = -1

# The budget is what the subscriber's link can take, minus its audio. A layer whose rate is unknown yet
# (no second measured) counts as this much, so it is neither free nor unaffordable.
UNKNOWN_RATE = 300_000
# A layer at least this share of a tile's height (in device pixels) is sharp enough for it.
SHARP_ENOUGH = 0.9


@dataclass(frozen=True)
class Video:
    """One video track a subscriber receives, as the allocation sees it."""

    rates: tuple[int, ...]  # bits/s of each layer the publisher sends now, lowest first; -1: not measured
    heights: tuple[int, ...]  # each layer's frame height, -1 where no key frame told it yet
    tile_height: int  # the subscriber's tile for it, device pixels; -1: not told (treated as large)
    important: bool  # the active speaker, or a tile shown large (pinned, speaker view)


def wanted_layer(video: Video) -> int:
    """Return the smallest layer sharp enough for the tile, or the top one."""
    top = len(video.rates) - 1
    if video.tile_height < 0:
        return top
    for index, height in enumerate(video.heights[: top + 1]):
        if height >= 0 and height >= SHARP_ENOUGH * video.tile_height:
            return index
    return top


def _rate(video: Video, layer: int) -> int:
    if layer == PAUSED:
        return 0
    rate = video.rates[layer]
    return UNKNOWN_RATE if rate < 0 else rate


def allocate(budget: float, videos: list[Video]) -> list[int]:
    """Return a layer index (or PAUSED) per video so that their rates fit ``budget`` (bits/s).

    The order of cuts is the module's policy; a video with a single layer goes straight from it to paused.
    """
    layers = [wanted_layer(v) for v in videos]
    total = sum(_rate(v, layer) for v, layer in zip(videos, layers, strict=True))
    # Each phase: (which videos, what the phase lowers them to).
    phases = ((False, 0), (True, 0), (False, PAUSED), (True, PAUSED))
    for important, floor in phases:
        for index in sorted(range(len(videos)), key=lambda i: -_rate(videos[i], layers[i])):
            if total <= budget:
                return layers
            video = videos[index]
            if video.important != important or layers[index] <= floor:
                continue
            total -= _rate(video, layers[index]) - _rate(video, floor)
            layers[index] = floor
    return layers


# What counts as congestion on the way to a subscriber, from its own feedback: its estimate just fell, to
# below what it was being sent (a delay-based estimator answers a building queue that way), or it reports
# loss. A first estimate below what is sent is not a fall: a receiver's estimator starts from what it
# measured in its first second, before the video ramped up, and only rises from there once it is given
# more to measure; taken for congestion, it would hold the video down for good.
CONGESTED_ESTIMATE = 0.85
FALLEN_ESTIMATE = 0.95
CONGESTED_LOSS = 0.05
# After congestion the ceiling stays at the estimate; after this long without it, the ceiling is raised
# to find out whether the link recovered (a receiver's estimate cannot rise much above what it is sent,
# so waiting for it to grow would never bring video back). A raise that brings a higher layer is a real
# test of the link (Haven sends no padding probes), which a narrow link pays for with a few seconds of
# congestion: so not often, and a raise that congests doubles the wait.
CALM_BEFORE_RAISE = 15.0
MAX_CALM = 120.0
RAISE_FACTOR = 1.6
UNLIMITED = float("inf")


class Ceiling:
    """The bitrate one subscriber is allowed, learned from its feedback (one per subscriber)."""

    __slots__ = ("value", "calm_since", "wait", "raised", "last_estimate")

    def __init__(self) -> None:
        self.value = UNLIMITED  # a subscriber is trusted until its link says otherwise
        self.calm_since = 0.0
        self.wait = CALM_BEFORE_RAISE
        self.raised = False  # the ceiling was raised and no congestion has answered yet
        self.last_estimate = 0

    def update(self, now: float, estimate: int, sent: int, loss: float) -> float:
        """Fold one second's feedback in and return the ceiling (bits/s, or UNLIMITED).

        ``estimate``: the subscriber's REMB (0 if it sent none); ``sent``: what it was sent (bits/s);
        ``loss``: the largest fraction lost on the way to it, as its receiver reports said (-1: none yet).
        """
        fallen = 0 < estimate < FALLEN_ESTIMATE * self.last_estimate
        if estimate > 0:
            self.last_estimate = estimate
        if (fallen and estimate < CONGESTED_ESTIMATE * sent) or loss >= CONGESTED_LOSS:
            if self.raised:  # the last raise was too much: wait longer before the next one
                self.wait = min(self.wait * 2, MAX_CALM)
                self.raised = False
            limit = estimate if estimate > 0 else sent * (1 - max(loss, 0.0))
            self.value = max(1.0, min(self.value, limit))
            self.calm_since = now
        elif self.value != UNLIMITED and now - self.calm_since >= self.wait:
            if self.raised:  # the last raise held a whole wait: the link is recovering
                self.wait = CALM_BEFORE_RAISE
            self.value *= RAISE_FACTOR
            self.calm_since = now
            self.raised = True
            if self.value > 4 * max(estimate, sent, 1):
                self.value = UNLIMITED  # far above anything it was sent: no limit is left to learn
                self.raised = False
        return self.value
