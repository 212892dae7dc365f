"""Every request of the protocol, declared once: its type, its fields, who may send it, and its handler.

The parser (protocol.py) validates fields from this table, the Session's dispatcher checks ``access``
and audits refusals from it, and tests read it to prove that every request is handled and documented
(docs/protocol.md sections 5 to 10). A handler receives the session's typed parts, the acting
participant and the validated fields; rules that depend on state beyond ``access`` (only the current
speaker passes, hosts cannot be removed, …) live in the state machines the parts call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from . import schema as s
from .limits import (
    MAX_BREAKOUT_MINUTES,
    MAX_BREAKOUT_NAME_CHARS,
    MAX_BREAKOUTS,
    MAX_BROADCAST_CHARS,
    MAX_CHECKIN_TEXT_CHARS,
    MAX_HOMEWORK_CHARS,
    MAX_SDP_CHARS,
)
from .resume import MAX_CREDENTIAL_CHARS

if TYPE_CHECKING:
    from .parts import Parts
    from .room import Participant

Reply = dict[str, Any] | None | Awaitable[dict[str, Any] | None]
Handler = Callable[["Parts", "Participant", dict[str, Any]], Reply]


class Access(Enum):
    """Who may send a request."""

    CONNECTION = "connection"  # answered by the Connection itself, before or without a room
    MEMBER = "member"  # anyone in the session, waiting or admitted
    ADMITTED = "admitted"  # admitted participants of any role
    HOST = "host"  # admitted hosts and co-hosts


@dataclass(frozen=True)
class RequestSpec:
    """One request type of the protocol."""

    type: str
    fields: Mapping[str, s.Field]
    access: Access
    handle: Handler | None = None  # None for Access.CONNECTION
    refusal: str = ""  # what a participant without access is told


HOSTS_ONLY = "only the session's hosts can do this"
_PARTICIPANT: dict[str, s.Field] = {"participant_id": (True, s.string(128))}
_MINUTES = s.number(0, MAX_BREAKOUT_MINUTES)
_BREAKOUT = s.string(MAX_BREAKOUT_NAME_CHARS)
_OPTIONAL_BREAKOUT = s.optional_string(MAX_BREAKOUT_NAME_CHARS)


def _host(kind: str, fields: Mapping[str, s.Field], handle: Handler) -> RequestSpec:
    return RequestSpec(kind, fields, Access.HOST, handle, HOSTS_ONLY)


_SPECS: tuple[RequestSpec, ...] = (
    # Connection and media (docs/protocol.md sections 5 and 6).
    RequestSpec("hello", {"version": (True, s.integer(0, 1_000_000)), "token": (True, s.string(8192, 0)),
                          "room": (False, s.string(64)), "resume": (False, s.string(MAX_CREDENTIAL_CHARS))},
                Access.CONNECTION),
    RequestSpec("join", {"consent_version": (False, s.string(128)), "emergency_info": (False, s.anything)},
                Access.CONNECTION),
    RequestSpec("leave", {}, Access.CONNECTION),
    RequestSpec("publish", {"sdp": (True, s.string(MAX_SDP_CHARS)), "tracks": (True, s.track_list),
                            "replace_screen": (False, s.boolean)}, Access.MEMBER,
                lambda p, a, f: p.media.publish(a, f["sdp"], f["tracks"], bool(f.get("replace_screen")))),
    RequestSpec("unpublish", {"track_id": (True, s.string(64))}, Access.MEMBER,
                lambda p, a, f: p.media.unpublish(a, f["track_id"])),
    RequestSpec("mute", {"track_id": (True, s.string(64)), "muted": (True, s.boolean)}, Access.MEMBER,
                lambda p, a, f: p.media.mute(a, f["track_id"], f["muted"])),
    RequestSpec("tile-sizes", {"heights": (True, s.tile_heights)}, Access.MEMBER,
                lambda p, a, f: p.media.tile_sizes(a, f["heights"])),
    RequestSpec("subscriber-answer", {"revision": (True, s.integer(1, 2**31)),
                                      "sdp": (True, s.string(MAX_SDP_CHARS))}, Access.MEMBER,
                lambda p, a, f: p.media.subscriber_answer(a, f["revision"], f["sdp"])),
    # The waiting room and moderation (section 9.2, 9.3).
    _host("admit", _PARTICIPANT, lambda p, a, f: p.admission.admit(a, f["participant_id"])),
    _host("admit-all", {}, lambda p, a, f: p.admission.admit_all(a)),
    _host("deny", _PARTICIPANT, lambda p, a, f: p.admission.deny(a, f["participant_id"])),
    _host("send-to-waiting", _PARTICIPANT, lambda p, a, f: p.admission.send_to_waiting(a, f["participant_id"])),
    _host("mute-participant", {**_PARTICIPANT, "label": (True, s.label)},
          lambda p, a, f: p.moderation.mute(a, f["participant_id"], f["label"])),
    _host("mute-all", {}, lambda p, a, f: p.moderation.mute_all(a)),
    _host("ask-all-unmute", {"label": (True, s.label)}, lambda p, a, f: p.moderation.ask_all_unmute(a, f["label"])),
    _host("ask-unmute", {**_PARTICIPANT, "label": (True, s.label)},
          lambda p, a, f: p.moderation.ask_unmute(a, f["participant_id"], f["label"])),
    _host("remove", {**_PARTICIPANT, "ban": (False, s.boolean)},
          lambda p, a, f: p.moderation.remove(a, f["participant_id"], bool(f.get("ban")))),
    _host("set-role", {**_PARTICIPANT, "role": (True, s.string(16))},
          lambda p, a, f: p.moderation.set_role(a, f["participant_id"], f["role"])),
    _host("set-room", {name: (False, s.boolean) for name in s.SETTING_NAMES},
          lambda p, a, f: p.moderation.set_room(a, f)),
    _host("end-session", {}, lambda p, a, f: p.moderation.end_session(a)),
    _host("emergency-info", _PARTICIPANT, lambda p, a, f: p.moderation.emergency_info(a, f["participant_id"])),
    # Agenda, check-in, hands, chat and homework (sections 9.4 to 9.7).
    _host("agenda-start", {"template": (False, s.string(32)), "phases": (False, s.anything)},
          lambda p, a, f: p.structure.agenda_start(a, f.get("template", "default"), f.get("phases"))),
    _host("agenda-next", {}, lambda p, a, f: p.structure.agenda_next()),
    _host("agenda-set-phase", {"index": (True, s.integer(0, 100))},
          lambda p, a, f: p.structure.agenda_set_phase(f["index"])),
    _host("agenda-update", {"phases": (True, s.anything)}, lambda p, a, f: p.structure.agenda_update(f["phases"])),
    _host("checkin-start", {"order": (False, s.id_list), "random": (False, s.boolean)},
          lambda p, a, f: p.structure.checkin_start(f.get("order"), bool(f.get("random")))),
    _host("checkin-next", {}, lambda p, a, f: p.structure.checkin_next()),
    RequestSpec("checkin-pass", {}, Access.MEMBER, lambda p, a, f: p.structure.checkin_pass(a)),
    _host("checkin-end", {}, lambda p, a, f: p.structure.checkin_end()),
    RequestSpec("checkin-text", {"text": (True, s.string(MAX_CHECKIN_TEXT_CHARS * 2))}, Access.ADMITTED,
                lambda p, a, f: p.structure.checkin_text(a, f["text"]), "you can check in once you are admitted"),
    RequestSpec("react", {"reaction": (True, s.one_of(*s.REACTIONS))}, Access.ADMITTED,
                lambda p, a, f: p.structure.react(a, f["reaction"]), "you can react once you are admitted"),
    RequestSpec("checkin-mood", {"rating": (True, s.integer(1, 10))}, Access.ADMITTED,
                lambda p, a, f: p.structure.checkin_mood(a, f["rating"]),
                "you can share a rating once you are admitted"),
    RequestSpec("raise-hand", {}, Access.ADMITTED, lambda p, a, f: p.structure.raise_hand(a),
                "you can raise your hand once you are admitted"),
    RequestSpec("lower-hand", {"participant_id": (False, s.string(128))}, Access.MEMBER,
                lambda p, a, f: p.structure.lower_hand(a, f.get("participant_id", a.id))),
    _host("lower-all-hands", {}, lambda p, a, f: p.structure.lower_all_hands()),
    _host("give-floor", {"participant_id": (True, s.optional_string(128))},
          lambda p, a, f: p.structure.give_floor(f["participant_id"])),
    _host("spotlight", {"participant_id": (True, s.optional_string(128))},
          lambda p, a, f: p.structure.spotlight(f["participant_id"])),
    RequestSpec("chat", {"to": (True, s.string(128)), "text": (True, s.string(20000))}, Access.ADMITTED,
                lambda p, a, f: p.chat.post(a, f["to"], f["text"]), "you can chat once you are admitted"),
    _host("homework", {"text": (True, s.string(MAX_HOMEWORK_CHARS))},
          lambda p, a, f: p.structure.homework(a, f["text"])),
    # Screen sharing and breakouts (section 10).
    _host("allow-screen-share", {**_PARTICIPANT, "allowed": (True, s.boolean)},
          lambda p, a, f: p.screen.allow(a, f["participant_id"], f["allowed"])),
    _host("stop-screen-share", _PARTICIPANT, lambda p, a, f: p.screen.stop_by_host(a, f["participant_id"])),
    _host("breakout-create", {"names": (False, s.anything), "count": (False, s.integer(1, MAX_BREAKOUTS))},
          lambda p, a, f: p.breakouts.create(a, f.get("names"), f.get("count"))),
    _host("breakout-assign", {**_PARTICIPANT, "room": (True, _OPTIONAL_BREAKOUT)},
          lambda p, a, f: p.breakouts.assign(f["participant_id"], f.get("room"))),
    _host("breakout-assign-random", {}, lambda p, a, f: p.breakouts.assign_randomly()),
    _host("breakout-open", {"minutes": (False, _MINUTES)}, lambda p, a, f: p.breakouts.open(a, f.get("minutes"))),
    _host("breakout-settings", {"self_select": (True, s.boolean)},
          lambda p, a, f: p.breakouts.settings(f["self_select"])),
    RequestSpec("breakout-choose", {"room": (True, _BREAKOUT)}, Access.ADMITTED,
                lambda p, a, f: p.breakouts.choose(a, f["room"]),
                "the host has not let participants choose a breakout"),
    _host("breakout-timer", {"minutes": (True, _MINUTES)}, lambda p, a, f: p.breakouts.timer(f["minutes"])),
    _host("breakout-broadcast", {"text": (True, s.string(MAX_BROADCAST_CHARS))},
          lambda p, a, f: p.breakouts.broadcast(a, f["text"])),
    _host("breakout-close", {"room": (True, _BREAKOUT)}, lambda p, a, f: p.breakouts.close(a, f["room"])),
    _host("breakout-close-all", {}, lambda p, a, f: p.breakouts.close_all(a)),
    _host("breakout-visit", {"room": (True, _OPTIONAL_BREAKOUT)},
          lambda p, a, f: p.breakouts.visit(a, f.get("room"))),
    RequestSpec("ask-for-help", {}, Access.MEMBER, lambda p, a, f: p.breakouts.ask_for_help(a)),
)

REQUESTS: dict[str, RequestSpec] = {spec.type: spec for spec in _SPECS}
assert len(REQUESTS) == len(_SPECS), "a request type is declared twice"
