"""Upstream repair: which of a publisher's video packets went missing on the way in, and when to NACK them.

A pure state machine over extended sequence numbers and a clock (no sockets, no timers), owned by a video
Producer. The Producer reports a gap when a packet arrives past the next expected one (`lost`) and every
older packet that arrives (`arrived`); a timer asks for the retries that are due (`due`). Each missing
packet is asked for at most ``MAX_ATTEMPTS`` times, one round trip apart, and given up once a
retransmission could no longer arrive while a receiver's jitter buffer still waits for it (``MAX_AGE``):
past that, the key frame that consumers ask for anyway repairs the picture, and more NACKs would only add
load on a link that is already losing packets. Packets repaired here are cached like any other, so a
subscriber's own NACK for one is answered from the server.
"""

from __future__ import annotations

MAX_ATTEMPTS = 3
# A retransmission later than this after the loss is useless: browsers' video jitter buffers give up on a
# frame well within a second.
MAX_AGE = 1.0
# A larger jump is not a loss to repair (a publisher restarted its numbering, or an outage lost a burst
# no retransmission budget covers): the next key frame is the repair.
MAX_GAP = 128
MAX_PENDING = 512
# Until a repair has been timed, one round trip is assumed to be this long; retries wait 1.5 round trips.
INITIAL_RTT = 0.1
MIN_RETRY = 0.02
MAX_RETRY = 0.5


class UpstreamRepair:
    """The missing packets of one stream: when each was first missed, last asked for, and how often."""

    __slots__ = ("pending", "rtt", "nacked", "repaired", "abandoned")

    def __init__(self) -> None:
        # extended sequence number -> [first missed, last asked, attempts]
        self.pending: dict[int, list[float]] = {}
        self.rtt = INITIAL_RTT
        self.nacked = 0  # NACK entries sent (a packet asked for twice counts twice)
        self.repaired = 0  # missing packets that arrived after all
        self.abandoned = 0  # missing packets given up on

    def lost(self, first: int, last: int, now: float) -> list[int]:
        """Packets ``first``..``last`` (extended, inclusive) were skipped; return those to NACK now."""
        count = last - first + 1
        if count <= 0 or count > MAX_GAP:
            return []
        room = MAX_PENDING - len(self.pending)
        if room < count:  # forget the oldest: they are the least likely to come back in time
            for ext in sorted(self.pending)[: count - room]:
                del self.pending[ext]
                self.abandoned += 1
        asked = list(range(first, last + 1))
        for ext in asked:
            self.pending[ext] = [now, now, 1.0]
        self.nacked += len(asked)
        return asked

    def arrived(self, ext: int, now: float) -> bool:
        """An older packet arrived; True if it was one we were missing (a repair)."""
        entry = self.pending.pop(ext, None)
        if entry is None:
            return False
        self.repaired += 1
        if entry[2] == 1:  # answered the first request: how long a round trip to the publisher takes
            sample = now - entry[1]
            if sample > 0:
                self.rtt = sample if self.rtt == INITIAL_RTT else 0.875 * self.rtt + 0.125 * sample
        return True

    def retry_interval(self) -> float:
        return min(MAX_RETRY, max(MIN_RETRY, 1.5 * self.rtt))

    def due(self, now: float) -> list[int]:
        """Return the packets to ask for again now; forget those past their attempts or their age."""
        interval = self.retry_interval()
        again = []
        expired = []
        for ext, entry in self.pending.items():
            if now - entry[0] > MAX_AGE:
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
