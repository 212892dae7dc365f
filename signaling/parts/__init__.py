"""The parts of a session in progress, one per concern; each turns requests into state changes and events.

Each part receives the session's typed ``Context`` (and the other parts it needs) instead of reaching
into a shared object; the request table (signaling/requests.py) names the method that answers each request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .admission import Admission
from .breakouts import BreakoutControl
from .chat import Chat
from .context import Context, Events, Outbox
from .continuity import HostContinuity
from .media import Media
from .moderation import Moderation
from .screenshare import ScreenShare
from .structure import Structure

__all__ = ["Context", "Events", "Outbox", "Parts"]


@dataclass(frozen=True)
class Parts:
    """Every part of one session, wired to one Context."""

    media: Media
    screen: ScreenShare
    admission: Admission
    moderation: Moderation
    structure: Structure
    chat: Chat
    breakouts: BreakoutControl
    continuity: HostContinuity

    @classmethod
    def build(cls, ctx: Context) -> Parts:
        """Wire the parts to a context; each gets exactly the other parts it uses."""
        screen = ScreenShare(ctx)
        media = Media(ctx, screen)
        continuity = HostContinuity(ctx)
        admission = Admission(ctx, screen, continuity)
        return cls(media=media, screen=screen, admission=admission,
                   moderation=Moderation(ctx, admission, media, continuity), structure=Structure(ctx),
                   chat=Chat(ctx), breakouts=BreakoutControl(ctx, screen), continuity=continuity)
