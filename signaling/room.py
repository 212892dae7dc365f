"""Room and Participant: the state of one group session, with no I/O (tested without sockets).

The Room decides who may enter, who waits, who is a host, and holds the session's structure (agenda,
check-in round, raised hands, homework). Every rule a client could try to bypass is checked here.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .agenda import Agenda
from .checkin import CheckinRound
from .codes import LeaveReason
from .emergency import EmergencyInfo
from .errors import ProtocolError
from .placement import MAIN, MAIN_ROOM, WAITING_ROOM, Placement
from .resume import FRESH, Claim
from .schema import SCREEN_LABELS, SETTING_NAMES

HOST_ROLES = ("host", "cohost")
WAITING, ADMITTED = "waiting", "admitted"
# Leaving for these reasons means the network was lost; coming back waits unless readmit_after_timeout.
LOST_NETWORK = frozenset({LeaveReason.TIMEOUT, LeaveReason.MEDIA_FAILED})
# Admitted when the server stopped: their resume credential takes them back where they were, host or not.
RESTARTED = "server-restarting"
# A host removed or declined them: they always wait to be readmitted, whatever they present.
SENT_AWAY = frozenset({LeaveReason.REMOVED, LeaveReason.DENIED})


@dataclass(frozen=True)
class Departure:
    """How a participant last left this session: what a resume gives back, and what it may not."""

    reason: str
    role: str
    location: str
    admitted: bool


@dataclass
class Track:
    """A published track as the roster shows it."""

    track_id: str
    kind: str
    label: str
    muted: bool = False

    def describe(self) -> dict[str, Any]:
        """Return the protocol form of the track."""
        return {"track_id": self.track_id, "kind": self.kind, "label": self.label, "muted": self.muted}


@dataclass
class Participant:
    """Someone in a room: identity from the join token, current role and placement, and their tracks."""

    id: str
    name: str
    role: str  # host, cohost or participant
    token_role: str = ""  # what the token granted: only a token host cannot be demoted
    placement: Placement = WAITING_ROOM
    joined_at: float = field(default_factory=time.time)
    waiting_since: float = field(default_factory=time.time)
    starts_at: float | None = None  # the scheduled start from the join token, shown while waiting
    consent_version: str | None = None  # the agreement they accepted (None: the server's default)
    tracks: dict[str, Track] = field(default_factory=dict)
    # Confirmed at this join; hosts read it with emergency-info. Never in describe(), logs or storage.
    emergency: EmergencyInfo | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.token_role = self.token_role or self.role

    @property
    def is_host(self) -> bool:
        return self.role in HOST_ROLES

    @property
    def admitted(self) -> bool:
        return self.placement.admitted

    @property
    def state(self) -> str:
        """``admitted`` or ``waiting``, as the protocol says it."""
        return ADMITTED if self.placement.admitted else WAITING

    @property
    def location(self) -> str:
        """The main room or the breakout the participant is in."""
        return self.placement.location

    @location.setter
    def location(self, location: str) -> None:
        self.placement = replace(self.placement, location=location)

    def cut_off(self) -> None:
        """Stop the participant's media for good (they are being removed, or the session ends)."""
        self.placement = replace(self.placement, cut=True)

    def track_by_label(self, label: str) -> Track | None:
        """Return the participant's track with a label, if any."""
        return next((t for t in self.tracks.values() if t.label == label), None)

    def screen_tracks(self) -> list[Track]:
        """Return the participant's screen-share tracks (video and its audio)."""
        return [t for t in self.tracks.values() if t.label in SCREEN_LABELS]

    def describe(self) -> dict[str, Any]:
        """Return the protocol form of the participant."""
        return {"id": self.id, "name": self.name, "role": self.role, "state": self.state,
                "tracks": [t.describe() for t in self.tracks.values()]}


@dataclass
class Settings:
    """What hosts can switch during a session."""

    locked: bool = False
    waiting_room: bool = True
    chat_enabled: bool = True
    private_chat: bool = False
    hands_visible: bool = False
    readmit_after_timeout: bool = False  # members who lost their network come back admitted (with a resume)
    members_media_without_host: bool = False  # while no host is present, members still see and hear each other
    checkin_text_visible: bool = False  # a check-in typed into the round reaches everyone (else only the hosts)

    NAMES = SETTING_NAMES


class Room:
    """The participants of one session and the rules of the session."""

    def __init__(self, room_id: str, max_participants: int, session_id: str = "", settings: Settings | None = None,
                 now: float | None = None, rng: random.Random | None = None, max_waiting: int | None = None) -> None:
        self.id = room_id
        self.max_participants = max_participants  # admitted participants other than token hosts
        self.max_waiting = max_participants if max_waiting is None else max_waiting
        self.session_id = session_id
        self.settings = settings or Settings()
        self.started_at = time.time() if now is None else now
        self.participants: dict[str, Participant] = {}
        self.admitted_ever: set[str] = set()
        self.banned: set[str] = set()
        self.sent_away: set[str] = set()  # removed or declined (not banned): they wait until readmitted
        self.departed: dict[str, Departure] = {}
        self.agenda: Agenda | None = None
        self.checkin: CheckinRound | None = None
        self.hands: list[str] = []
        self.floor: str | None = None
        self.spotlight: str | None = None  # shown large for everyone (hosts choose; a viewer's pin is theirs)
        self.homework: tuple[str, float] | None = None
        self.screen_allowed: set[str] = set()  # participants a host allowed to share their screen
        self.no_host_since: float | None = self.started_at
        self.host_grace = 600.0  # how long the session waits for a host to return (session.host_grace)
        # Why the last host went ("left" or "disconnected") while no host is present after one was.
        self.host_away_reason: str | None = None
        self.rng = rng or random.Random()

    # -- membership -------------------------------------------------------------------------------

    def enter(self, participant: Participant, now: float, claim: Claim = FRESH) -> str:
        """Let a participant in, waiting or admitted; raise ProtocolError if they may not enter.

        Entry goes by identity, not by possession of a link: only a valid resume credential for this
        session (``claim``) gives back a place held before (its role and location included); a reused
        token waits; someone a host removed or declined always waits; someone whose network was lost
        waits unless the hosts turned ``readmit_after_timeout`` on.
        """
        pid = participant.id
        if pid in self.banned:
            raise ProtocolError("banned", "the host removed you from this session")
        returning = pid in self.admitted_ever
        if self.settings.locked and not participant.is_host and not returning:
            raise ProtocolError("room-locked", "the host has locked this session")
        departure = self.departed.get(pid) if claim.resumes(self.session_id) else None
        if departure is not None and departure.role == "cohost" and participant.token_role == "participant":
            participant.role = "cohost"
        if claim.reused or pid in self.sent_away:
            admit = False
        elif participant.is_host:  # a host (or a co-host taking back their place) never waits
            admit = True
        elif departure is not None:
            lost = departure.reason in LOST_NETWORK and not self.settings.readmit_after_timeout
            admit = departure.admitted and not lost and (self.host_present or departure.reason == RESTARTED)
        else:
            admit = participant.is_host or (self.host_present and not self.settings.waiting_room)
        if not participant.is_host:  # hosts (and a co-host taking back their place) always get in
            self._check_capacity(pid, admit)
        if admit:
            participant.placement = MAIN_ROOM
            if departure is not None and departure.location != MAIN:
                participant.placement = Placement(admitted=True, location=departure.location)
        else:
            participant.placement = WAITING_ROOM
            participant.waiting_since = now
        self.participants[pid] = participant
        if participant.admitted:
            self._admitted(participant)
        return participant.state

    def _check_capacity(self, participant_id: str, admitted: bool) -> None:
        """Refuse room-full when the room (or, for someone who would wait, the waiting room) is full."""
        others = [p for p in self.participants.values() if p.id != participant_id]
        if admitted:
            if len([p for p in others if p.admitted and p.token_role != "host"]) >= self.max_participants:
                raise ProtocolError("room-full", "this session is full")
        elif len([p for p in others if not p.admitted]) >= self.max_waiting:
            raise ProtocolError("room-full", "the waiting room of this session is full")

    def _admitted(self, participant: Participant) -> None:
        self.admitted_ever.add(participant.id)
        self.sent_away.discard(participant.id)
        if participant.is_host:
            self.no_host_since = None

    def remove(self, participant_id: str, now: float | None = None,
               reason: str = LeaveReason.LEFT) -> Participant | None:
        """Take a participant out of the room (left, removed, denied) and out of its queues."""
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return None
        self.departed[participant_id] = Departure(reason, participant.role, participant.location,
                                                  participant.admitted)
        if reason in SENT_AWAY:
            self.sent_away.add(participant_id)
        self._clear_turns(participant_id)
        if not self.host_present and self.no_host_since is None:
            self.no_host_since = time.time() if now is None else now
        return participant

    def _clear_turns(self, participant_id: str) -> None:
        if participant_id in self.hands:
            self.hands.remove(participant_id)
        if self.floor == participant_id:
            self.floor = None
        if self.spotlight == participant_id:
            self.spotlight = None
        if self.checkin is not None:
            self.checkin.forget(participant_id)
            self._lower(self.checkin.current)  # the next speaker's hand comes down too

    def admit(self, participant_id: str) -> Participant:
        """Admit someone from the waiting room."""
        participant = self.participants.get(participant_id)
        if participant is None or participant.admitted:
            raise ProtocolError("not-waiting", "that participant is not in the waiting room")
        if participant.token_role != "host":
            self._check_capacity(participant_id, True)
        participant.placement = MAIN_ROOM
        self._admitted(participant)
        return participant

    def send_to_waiting(self, participant_id: str, now: float) -> Participant:
        """Send an admitted participant back to the waiting room (hosts cannot be sent)."""
        participant = self.get(participant_id)
        if not participant.admitted or participant.is_host:
            raise ProtocolError("not-permitted", "only admitted participants who are not hosts can wait")
        participant.placement = WAITING_ROOM
        participant.waiting_since = now
        self._clear_turns(participant_id)
        return participant

    def move(self, participant_id: str, location: str) -> Participant:
        """Place an admitted participant in the main room or a breakout (named by breakouts.py)."""
        participant = self.require_admitted(participant_id)
        participant.placement = Placement(admitted=True, location=location)
        return participant

    def check_removable(self, actor: Participant, target: Participant) -> None:
        """Refuse removing a host from the join link, or oneself."""
        if target.token_role == "host" or target.id == actor.id:
            raise ProtocolError("not-permitted", "hosts cannot be removed")

    def ban(self, participant_id: str) -> None:
        """Bar a participant id from the rest of this session."""
        self.banned.add(participant_id)

    def get(self, participant_id: str) -> Participant:
        """Return a participant in the room or raise unknown-participant."""
        participant = self.participants.get(participant_id) if isinstance(participant_id, str) else None
        if participant is None:
            raise ProtocolError("unknown-participant", "no such participant in this session")
        return participant

    def require_admitted(self, participant_id: str) -> Participant:
        """Return an admitted participant; someone waiting is not in the room yet."""
        participant = self.get(participant_id)
        if not participant.admitted:
            raise ProtocolError("unknown-participant", "that participant is still in the waiting room")
        return participant

    def require_host(self, participant_id: str) -> Participant:
        """Return the participant if they are an admitted host, else raise not-permitted."""
        participant = self.participants.get(participant_id)
        if participant is None or not participant.is_host or not participant.admitted:
            raise ProtocolError("not-permitted", "only the session's hosts can do this")
        return participant

    def may_share_screen(self, participant: Participant) -> bool:
        """Hosts share by default; anyone else needs a host's permission."""
        return participant.is_host or participant.id in self.screen_allowed

    def sharer(self, location: str) -> Participant | None:
        """Return who shares a screen in the main room or a breakout (at most one does)."""
        return next((p for p in self.in_location(location) if p.track_by_label("screen")), None)

    def check_new_share(self, participant: Participant, replace: bool) -> Participant | None:
        """Allow a new screen share, one per room; return whose share it replaces (None: nobody's)."""
        if not participant.admitted or not self.may_share_screen(participant):
            raise ProtocolError("not-permitted", "ask the host for permission to share your screen")
        current = self.sharer(participant.location)
        if current is None or current is participant:
            return None
        if not replace:
            raise ProtocolError("screen-share-active", "someone else is sharing; ask to replace their share")
        return current

    def set_role(self, participant_id: str, role: str) -> Participant:
        """Promote a participant to co-host or demote a co-host; a token host keeps the host role."""
        if role not in ("cohost", "participant"):
            raise ProtocolError("bad-request", 'role must be "cohost" or "participant"')
        participant = self.get(participant_id)
        if participant.token_role == "host":
            raise ProtocolError("not-permitted", "a host from the join link cannot change role")
        if not participant.admitted:
            raise ProtocolError("not-permitted", "admit the participant first")
        participant.role = role
        if participant.is_host:
            self.no_host_since = None
            if participant_id in self.hands:
                self.hands.remove(participant_id)
        elif not self.host_present and self.no_host_since is None:
            self.no_host_since = time.time()
        return participant

    @property
    def host_present(self) -> bool:
        return any(p.is_host and p.admitted for p in self.participants.values())

    @property
    def members_paused(self) -> bool:
        """Whether members' media is held: a host was here, none is now, and they did not allow it to go on."""
        return self.host_away_reason is not None and not self.settings.members_media_without_host

    def host_away(self) -> dict[str, Any] | None:
        """Return what members are told while the hosts are away (None while a host is present)."""
        if self.host_away_reason is None or self.no_host_since is None:
            return None
        return {"since": int(self.no_host_since * 1000), "reason": self.host_away_reason,
                "ends_at": int((self.no_host_since + self.host_grace) * 1000), "media_paused": self.members_paused}

    def waiting(self) -> list[Participant]:
        """List the waiting room in arrival order."""
        return sorted((p for p in self.participants.values() if not p.admitted), key=lambda p: p.waiting_since)

    def admitted(self) -> list[Participant]:
        """List admitted participants in order of arrival."""
        return [p for p in self.participants.values() if p.admitted]

    def others(self, participant_id: str) -> list[Participant]:
        """List the other admitted participants in the same room or breakout, in order of arrival."""
        location = self.participants[participant_id].location if participant_id in self.participants else MAIN
        return [p for p in self.admitted() if p.id != participant_id and p.location == location]

    def in_location(self, location: str) -> list[Participant]:
        """List the admitted participants in the main room or in one breakout."""
        return [p for p in self.admitted() if p.location == location]

    def is_empty(self) -> bool:
        """Tell whether nobody is left."""
        return not self.participants

    # -- settings ---------------------------------------------------------------------------------

    def change_settings(self, changes: dict[str, bool]) -> None:
        """Apply host setting changes (names from Settings.NAMES)."""
        for name, value in changes.items():
            setattr(self.settings, name, value)

    # -- structure --------------------------------------------------------------------------------

    def start_checkin(self, order: list[str] | None, shuffle: bool) -> CheckinRound:
        """Start a check-in round over the admitted members who are not hosts."""
        eligible = [p.id for p in self.admitted() if not p.is_host]
        self.checkin = CheckinRound.start(eligible, order, shuffle, self.rng)
        self._lower(self.checkin.current)
        return self.checkin

    def require_speaker(self, participant_id: str) -> None:
        """Refuse anyone but the current check-in speaker."""
        if self.checkin is None:
            raise ProtocolError("no-checkin", "no check-in round is running")
        if self.checkin.current != participant_id:
            raise ProtocolError("not-permitted", "only the current speaker can check in now")

    def pass_turn(self, participant_id: str) -> str | None:
        """Let the current check-in speaker pass; nobody else can."""
        if self.checkin is None:
            raise ProtocolError("no-checkin", "no check-in round is running")
        if self.checkin.current != participant_id:
            raise ProtocolError("not-permitted", "only the current speaker can pass")
        return self.advance_checkin(passed=True)

    def advance_checkin(self, passed: bool) -> str | None:
        """Move the round to the next speaker."""
        if self.checkin is None:
            raise ProtocolError("no-checkin", "no check-in round is running")
        speaker = self.checkin.advance(passed)
        self._lower(speaker)
        return speaker

    def raise_hand(self, participant_id: str) -> None:
        """Queue a raised hand (once)."""
        if participant_id not in self.hands:
            self.hands.append(participant_id)

    def lower_hand(self, participant_id: str, by: Participant | None = None) -> None:
        """Lower one hand; someone else's only by an admitted host."""
        if by is not None and participant_id != by.id and not (by.is_host and by.admitted):
            raise ProtocolError("not-permitted", "only hosts can lower someone else's hand")
        self._lower(participant_id)

    def give_floor(self, participant_id: str | None) -> None:
        """Give someone the floor (None takes it back); their hand comes down."""
        if participant_id is not None:
            self.get(participant_id)
        self.floor = participant_id
        self._lower(participant_id)

    def _lower(self, participant_id: str | None) -> None:
        if participant_id in self.hands:
            self.hands.remove(participant_id)

    # -- views ------------------------------------------------------------------------------------

    def state_for(self, viewer: Participant) -> dict[str, Any]:
        """Return the room state as an admitted viewer may see it."""
        hands = list(self.hands)
        if not (viewer.is_host or self.settings.hands_visible):
            hands = [pid for pid in hands if pid == viewer.id]
        state: dict[str, Any] = {"session_id": self.session_id, "started_at": int(self.started_at * 1000),
                 "host_present": self.host_present, "hands": hands, "floor": self.floor, "spotlight": self.spotlight,
                 "agenda": self.agenda.describe() if self.agenda else None,
                 "checkin": self.checkin.describe() if self.checkin else None,
                 "homework": {"text": self.homework[0], "posted_at": int(self.homework[1] * 1000)}
                 if self.homework else None, "host_away": self.host_away()}
        state.update({name: getattr(self.settings, name) for name in Settings.NAMES})
        return state
