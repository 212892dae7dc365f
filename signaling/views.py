"""What each participant is shown: pure functions from session state to protocol payloads (section 7)."""

from __future__ import annotations

from typing import Any

from .breakouts import Breakouts
from .chat import ChatLog
from .room import Participant, Room


def room_state(room: Room, breakouts: Breakouts, viewer: Participant) -> dict[str, Any]:
    """Return the ``room-state`` payload as an admitted viewer may see it."""
    state = room.state_for(viewer)
    locations = {p.id: p.location for p in room.admitted()}
    state["location"] = viewer.location
    state["breakouts"] = breakouts.describe(viewer.is_host, locations, viewer.id)
    sharer = room.sharer(viewer.location)
    screen = sharer.track_by_label("screen") if sharer is not None else None
    state["screen_share"] = ({"participant_id": sharer.id, "track_id": screen.track_id}
                             if sharer is not None and screen is not None else None)
    state["can_share_screen"] = room.may_share_screen(viewer)
    if viewer.is_host:
        state["screen_allowed"] = sorted(room.screen_allowed)
    return state


def waiting_view(room: Room, viewer: Participant, support_text: str) -> dict[str, Any]:
    """Return what a waiting participant sees: no roster, no chat, only the session's schedule and help."""
    starts_at = viewer.starts_at
    return {"session_id": room.session_id, "starts_at": int(starts_at * 1000) if starts_at else None,
            "support_text": support_text, "host_present": room.host_present}


def entry(room: Room, breakouts: Breakouts, chat: ChatLog, viewer: Participant,
          support_text: str) -> dict[str, Any]:
    """Return the ``join`` result (and ``admitted`` event) payload for a participant as they are now."""
    if not viewer.admitted:
        return {"state": "waiting", "session_id": room.session_id, "self": viewer.describe(),
                "participants": [], "room": waiting_view(room, viewer, support_text), "chat": []}
    return {"state": "admitted", "session_id": room.session_id, "self": viewer.describe(),
            "participants": [p.describe() for p in room.others(viewer.id)],
            "room": room_state(room, breakouts, viewer), "chat": chat.visible_to(room, viewer)}


def waiting_list(room: Room) -> list[dict[str, Any]]:
    """Return the waiting room as hosts see it, in arrival order."""
    return [{"id": p.id, "name": p.name, "since": int(p.waiting_since * 1000)} for p in room.waiting()]
