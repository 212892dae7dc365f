"""Sequence-number and timestamp mapping from a source stream onto a subscriber's slot (a "munger").

A slot (one sendonly m-line) shows its subscriber one RTP stream for its whole life, while what feeds it
changes: a consumer pauses and resumes, holds for a key frame after congestion, or ends and leaves the slot
to the next consumer. Each stretch of forwarding between two such breaks is an *epoch*; it starts at a key
frame and maps source numbers with a fixed offset. The rules:

* numbering goes on past every number handed out, across every break, so a subscriber never sees one
  number for two different packets: at the packet that could not be sent if it is the source's newest
  (in-order congestion leaves no gap), else one past the newest packet received (a gap is only a loss);
* a packet older than the epoch's first packet is late (it would land on numbers already handed out) and
  is dropped;
* inside an epoch, reordered packets map normally and duplicates map to the same number (the subscriber's
  jitter buffer sorts them, as it would without an SFU);
* a NACK is answered only for a number of the current epoch.

The munger works on *extended* source sequence numbers (the 16-bit number plus 65536 per wrap, RFC 3550
appendix A.1), which the Producer computes once per packet for all its consumers: "older than the epoch"
is then one comparison per packet and subscriber, however long the epoch runs. Timestamps are 32-bit
and only shifted (RFC 3550 section 5.1). The per-packet part is inlined on the hot path (media/consumer.py
``Consumer.send``); tests/unit/test_sequence.py runs the same tables through both.
"""

from __future__ import annotations

SEQ_MASK = 0xFFFF
TS_MASK = 0xFFFFFFFF
HALF_SEQ = 0x8000
LATE = -1  # what ``map`` returns for a packet older than the epoch's first one


class SlotNumbering:
    """The next sequence number and timestamp the subscriber of a slot will see, across its consumers."""

    __slots__ = ("next_seq", "next_ts")

    def __init__(self, next_seq: int, next_ts: int) -> None:
        self.next_seq = next_seq & SEQ_MASK
        self.next_ts = next_ts & TS_MASK


def extend(seq: int, newest: int) -> int:
    """Return the extended number of 16-bit ``seq`` nearest the extended number ``newest`` (RFC 3550 A.1)."""
    return newest + ((seq - newest + HALF_SEQ) & SEQ_MASK) - HALF_SEQ


class SequenceMunger:
    """Maps one source's numbers onto a slot, epoch by epoch; one per consumer.

    ``base`` is the extended source number the epoch opened at. The source tells the munger, where it
    matters, its newest extended number: everything handed out in an epoch lies between ``base`` and it.
    """

    __slots__ = ("numbering", "seq_off", "ts_off", "base", "waiting_key", "started")

    def __init__(self, numbering: SlotNumbering) -> None:
        self.numbering = numbering
        self.seq_off = 0
        self.ts_off = 0
        self.base = 0
        self.waiting_key = True  # no epoch: the next forwarded packet must open one with ``resume``
        self.started = False  # the timestamp line was chosen (at the first epoch)

    def resume(self, ext: int, ts: int) -> None:
        """Open an epoch at the source packet ``ext`` (a key frame): it gets the slot's next number."""
        numbering = self.numbering
        self.seq_off = (numbering.next_seq - ext) & SEQ_MASK
        self.base = ext
        if not self.started:
            # The first epoch continues the slot's timestamp line; later ones keep the offset, so the
            # subscriber's clock runs on through a pause exactly as the publisher's did.
            self.ts_off = (numbering.next_ts - ts) & TS_MASK
            self.started = True
        self.waiting_key = False

    def map(self, ext: int) -> int:
        """Return the subscriber's number for the source packet ``ext`` in this epoch, or LATE."""
        if ext < self.base:
            return LATE
        return (ext + self.seq_off) & SEQ_MASK

    def map_ts(self, ts: int) -> int:
        """Return the subscriber's timestamp for a source timestamp."""
        return (ts + self.ts_off) & TS_MASK

    def hold(self, first_unsent: int) -> None:
        """Close the epoch (pause, congestion): the slot's numbering goes on at source ``first_unsent``.

        ``first_unsent`` is an extended source number past every one handed out; holding again changes
        nothing.
        """
        if not self.waiting_key:
            self.numbering.next_seq = (first_unsent + self.seq_off) & SEQ_MASK
            self.waiting_key = True

    def stop(self, newest: int | None, newest_ts: int | None, frame_ticks: int) -> None:
        """End this mapping for good (the slot gets another consumer next).

        ``newest``/``newest_ts`` are the source's newest extended number and its timestamp: the slot's
        numbering goes on after it, and its timestamp line one frame (``frame_ticks``) later, so the next
        source starts later in the subscriber's clock, never earlier.
        """
        if newest is not None:
            self.hold(newest + 1)
        if self.started and newest_ts is not None:
            self.numbering.next_ts = (newest_ts + self.ts_off + frame_ticks) & TS_MASK

    def lookup(self, subscriber_seq: int, newest: int | None) -> int:
        """Return the extended source number a subscriber's NACKed number stands for, or -1.

        Only numbers of the current epoch up to the source's ``newest`` qualify: older ones were mapped
        with another offset (before a pause, or from the slot's previous consumer), so the same
        arithmetic would name the wrong packet.
        """
        if self.waiting_key or newest is None:
            return -1
        source = (subscriber_seq - self.seq_off) & SEQ_MASK
        back = (newest - source) & SEQ_MASK
        if back >= HALF_SEQ or newest - back < self.base:
            return -1
        return newest - back
