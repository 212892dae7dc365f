"""Placement: where a participant is, as one value, and the one reconciler that carries it into media.

A participant is waiting, or admitted in the main room or a breakout; ``cut`` stops their media for good
while their connection closes (removed, denied, session ended). Which Router a participant is in and
whether their media flows both ways follow from the placement alone (``plan``). ``MediaPlacement`` is the
only code that adds, moves or removes Router members or changes their media flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from media.api import MediaError, RouterApi, RouterListener

MAIN = "main"


@dataclass(frozen=True)
class Placement:
    """Where one participant is."""

    admitted: bool
    location: str = MAIN  # the main room or a breakout's name; always MAIN while waiting
    cut: bool = False
    paused: bool = False  # no host is present and the hosts did not let members' media go on without them

    @property
    def router(self) -> str:
        """The Router the participant is a member of: the waiting room belongs to the main room's."""
        return self.location if self.admitted else MAIN

    @property
    def flowing(self) -> bool:
        """Whether the participant's media reaches others and theirs reaches the participant."""
        return self.admitted and not self.cut and not self.paused


WAITING_ROOM = Placement(admitted=False)
MAIN_ROOM = Placement(admitted=True)


@dataclass(frozen=True)
class Add:
    router: str
    flowing: bool


@dataclass(frozen=True)
class SetMedia:
    router: str
    flowing: bool


@dataclass(frozen=True)
class Move:
    source: str
    destination: str


Step = Add | SetMedia | Move


def plan(old: Placement | None, new: Placement) -> list[Step]:
    """Return the Router operations that take a member from ``old`` (None: not yet a member) to ``new``.

    Media is cut in the old Router before a move and started in the new one after it, so there is no
    moment in which a participant on the way to the waiting room is heard in the main room.
    """
    if old is None:
        return [Add(new.router, new.flowing)]
    steps: list[Step] = []
    if old.flowing and not new.flowing:
        steps.append(SetMedia(old.router, False))
    if old.router != new.router:
        steps.append(Move(old.router, new.router))
    if new.flowing and not old.flowing:
        steps.append(SetMedia(new.router, True))
    return steps


RouterFactory = Callable[[str, RouterListener], RouterApi]


class MediaPlacement:
    """The Routers of one session, and each participant's placement as the Routers carry it out."""

    def __init__(self, router_factory: RouterFactory, listener: RouterListener) -> None:
        self._factory = router_factory
        self._listener = listener
        self.routers: dict[str, RouterApi] = {MAIN: router_factory(MAIN, listener)}
        self.applied: dict[str, Placement] = {}

    def apply(self, participant_id: str, placement: Placement) -> None:
        """Make the Routers match a participant's placement (idempotent)."""
        old = self.applied.get(participant_id)
        for step in plan(old, placement):
            if isinstance(step, Add):
                self._router(step.router).add_member(participant_id, sending=step.flowing, receiving=step.flowing)
            elif isinstance(step, SetMedia):
                self.routers[step.router].set_member_media(participant_id, sending=step.flowing,
                                                           receiving=step.flowing)
            else:
                self.routers[step.source].move_member(participant_id, self._router(step.destination))
        self.applied[participant_id] = placement

    def router_of(self, participant_id: str) -> RouterApi:
        """Return the Router a participant is in; raise MediaError if they are in none."""
        placement = self.applied.get(participant_id)
        if placement is None:
            raise MediaError("not-joined", "the participant is not in this room")
        return self.routers[placement.router]

    async def remove(self, participant_id: str) -> None:
        """Take a participant out of its Router, closing its media connections."""
        placement = self.applied.pop(participant_id, None)
        if placement is not None:
            await self.routers[placement.router].remove_member(participant_id)

    async def drop_router(self, name: str) -> None:
        """Close a breakout's Router once nobody is placed in it."""
        if name == MAIN or any(p.router == name for p in self.applied.values()):
            return
        router = self.routers.pop(name, None)
        if router is not None:
            await router.close()

    async def close(self) -> None:
        """Close every Router."""
        for router in list(self.routers.values()):
            await router.close()

    def _router(self, name: str) -> RouterApi:
        router = self.routers.get(name)
        if router is None:
            router = self.routers[name] = self._factory(name, self._listener)
        return router
