"""Upstream repair: which of a publisher's packets went missing on the way in, and when to NACK them.

A pure state machine over extended sequence numbers and a clock (no sockets, no timers), owned by a Producer
(video, and audio with a shorter ``max_age``). The Producer reports a gap when a packet arrives past the
next expected one (`lost`) and every older packet that arrives (`arrived`); a timer asks for the retries
that are due (`due`). Each missing packet is asked for at most ``MAX_ATTEMPTS`` times, one round trip apart,
and given up once a retransmission could no longer arrive while a receiver's jitter buffer still waits for
it (``MAX_AGE``): past that, a key frame repairs the picture (the Producer asks for one at once), and more
NACKs would only add load on a link that is already losing packets. Video packets repaired here are cached
like any other, so a subscriber's own NACK for one is answered from the server.

A repaired packet reaches the subscribers late, by the time its loss took to notice (until the next packet
came) plus the round trips it took to repair. A browser's jitter buffer does not wait for that: it sees
only its own round trip to the server, and it leaves retransmitted frames out of its delay estimate. So a
frame that later frames do not depend on (most of a VP8 temporal layer's) is decoded past and thrown away
when its repair arrives. ``wait_ms`` says how late repairs of this stream arrived lately, for the subscribers'
jitter buffers to wait that long (docs/protocol.md 6.3, ``repair_ms``); a stream repaired nothing is not
delayed at all.
"""

from __future__ import annotations

import math
from collections import deque

MAX_ATTEMPTS = 3
# A retransmission later than this after the loss is useless: browsers' video jitter buffers give up on a
# frame well within a second, and their audio buffers hold far less (they conceal a missing packet once its
# turn to play came, tens of milliseconds after it was due).
MAX_AGE = 1.0
AUDIO_MAX_AGE = 0.25
# A larger jump is not a loss to repair (a publisher restarted its numbering, or an outage lost a burst
# no retransmission budget covers): the next key frame is the repair.
MAX_GAP = 128
MAX_PENDING = 512
# Until a repair has been timed, one round trip is assumed to be this long; retries wait 1.5 round trips.
INITIAL_RTT = 0.1
MIN_RETRY = 0.02
MAX_RETRY = 0.5
# How late repairs arrived is remembered for this long (at most LATE_SAMPLES of them). The wait covers
# LATE_SHARE of them: a packet lost again on its way back (1 % of all at 10 % loss) is not worth delaying
# every frame for.
LATE_WINDOW = 20.0
LATE_SAMPLES = 128
LATE_SHARE = 0.9
# What a receiver is asked to wait: that, plus decoding and a step of margin, in steps of WAIT_STEP so
# that small changes do not reach the clients, and at most MAX_WAIT (a longer delay would hurt the
# conversation more than the frames it saves).
WAIT_MARGIN = 0.03
WAIT_STEP = 0.05
MAX_WAIT = 0.4


class UpstreamRepair:
    """The missing packets of one stream: when each was first missed, last asked for, and how often."""

    __slots__ = ("clock", "max_age", "pending", "rtt", "missed", "nacked", "repaired", "abandoned", "lates", "_wait")

    def __init__(self, clock: int = 90_000, max_age: float = MAX_AGE) -> None:
        self.clock = clock  # the stream's RTP clock rate
        self.max_age = max_age
        # extended sequence number -> [first missed, last asked, attempts, media time of the packet that
        # showed the gap]
        self.pending: dict[int, list[float]] = {}
        self.rtt = INITIAL_RTT
        self.missed = 0  # packets found missing (once each, whether repaired or not)
        self.nacked = 0  # NACK entries sent (a packet asked for twice counts twice)
        self.repaired = 0  # missing packets that arrived after all
        self.abandoned = 0  # missing packets given up on
        # The last repairs: when each arrived, and how long after the packet could have come.
        self.lates: deque[tuple[float, float]] = deque(maxlen=LATE_SAMPLES)
        self._wait = 0  # wait_ms of these samples (every subscriber of the track asks, every second)

    def lost(self, first: int, last: int, now: float, ts: int = 0) -> list[int]:
        """Packets ``first``..``last`` (extended, inclusive) were skipped by the one just received, whose
        RTP timestamp is ``ts``; return those to NACK now."""
        count = last - first + 1
        if count <= 0 or count > MAX_GAP:
            return []
        room = MAX_PENDING - len(self.pending)
        if room < count:  # forget the oldest: they are the least likely to come back in time
            for ext in sorted(self.pending)[: count - room]:
                del self.pending[ext]
                self.abandoned += 1
        asked = list(range(first, last + 1))
        self.missed += count
        for ext in asked:
            self.pending[ext] = [now, now, 1.0, ts]
        self.nacked += len(asked)
        return asked

    def arrived(self, ext: int, now: float, ts: int = 0) -> bool:
        """An older packet arrived (RTP timestamp ``ts``); True if it was one we were missing (a repair)."""
        entry = self.pending.pop(ext, None)
        if entry is None:
            return False
        self.repaired += 1
        # Late by the repair's time, and by how long its loss went unnoticed: the packet would have come
        # that much media time before the one that showed the gap (one frame, if the gap is a frame's
        # one packet or its last; nothing, inside a frame).
        unnoticed = (int(entry[3]) - ts) & 0xFFFFFFFF
        self.lates.append((now, now - entry[0] + (unnoticed / self.clock if unnoticed < self.clock else 0.0)))
        self._wait = -1
        if entry[2] == 1:  # answered the first request: how long a round trip to the publisher takes
            sample = now - entry[1]
            if sample > 0:
                self.rtt = sample if self.rtt == INITIAL_RTT else 0.875 * self.rtt + 0.125 * sample
        return True

    def wait_ms(self, now: float) -> int:
        """How long (ms) a receiver's jitter buffer should wait for this stream's repairs; 0: not at all."""
        lates = self.lates
        while lates and now - lates[0][0] > LATE_WINDOW:
            lates.popleft()
            self._wait = -1
        if self._wait >= 0:
            return self._wait
        if not lates:
            self._wait = 0
            return 0
        ordered = sorted(late for _, late in lates)
        late = ordered[min(len(ordered) - 1, int(LATE_SHARE * len(ordered)))]
        steps = math.ceil(round((late + WAIT_MARGIN) / WAIT_STEP, 6))  # round: 0.1 / 0.05 is not quite 2
        self._wait = round(min(MAX_WAIT, steps * WAIT_STEP) * 1000)
        return self._wait

    def retry_interval(self) -> float:
        return min(MAX_RETRY, max(MIN_RETRY, 1.5 * self.rtt))

    def due(self, now: float) -> list[int]:
        """Return the packets to ask for again now; forget those past their attempts or their age."""
        interval = self.retry_interval()
        again = []
        expired = []
        for ext, entry in self.pending.items():
            if now - entry[0] > self.max_age:
                expired.append(ext)
            elif now - entry[1] >= interval:
                if entry[2] >= MAX_ATTEMPTS:
                    expired.append(ext)
                else:
                    entry[1] = now
                    entry[2] += 1
                    again.append(ext)
        for ext in expired:
            del self.pending[ext]
        self.abandoned += len(expired)
        self.nacked += len(again)
        return again

    def clear(self) -> None:
        """Forget every missing packet (the stream restarted or closed)."""
        self.abandoned += len(self.pending)
        self.pending.clear()
