"""Who consumes whom: the Router's forwarding policy as a pure function of its members and tracks.

A member that may not send reaches no one, and a member that may not receive consumes nothing (the
waiting room uses both); nobody consumes their own tracks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar


class Party(Protocol):
    """What the policy reads of a member."""

    @property
    def sending(self) -> bool: ...

    @property
    def receiving(self) -> bool: ...


class Track(Protocol):
    """What the policy reads of a track (a Producer, or a TrackInfo)."""

    @property
    def id(self) -> str: ...

    @property
    def owner_id(self) -> str: ...


T = TypeVar("T", bound=Track)


def consumable_tracks(subscriber_id: str, members: Mapping[str, Party], tracks: Iterable[T]) -> list[T]:
    """Return the tracks a member should consume, in the order given: others' tracks that reach it."""
    subscriber = members.get(subscriber_id)
    if subscriber is None or not subscriber.receiving:
        return []
    wanted = []
    for track in tracks:
        if track.owner_id == subscriber_id:
            continue
        owner = members.get(track.owner_id)
        if owner is not None and owner.sending:
            wanted.append(track)
    return wanted
