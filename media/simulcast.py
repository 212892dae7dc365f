"""Simulcast: a track the publisher sends in several layers (RFC 8853), one layer per subscriber.

A layer is a Producer of its own (its SSRC, its receive statistics, its NACK cache and repair); the
layers of one track share its id, and the lowest is the ``track`` the Router knows. A subscriber's
Consumer carries one layer at a time and moves to another only at a key frame of the target layer
(``Producer.switch``). The subscriber must not notice the move: the sequence numbers go on where the
old layer's stopped (the munger's epochs, media/sequence.py), the timestamps go on along the same
clock, and VP8's picture id and TL0PICIDX go on counting (media/vp8.py). Which layer each subscriber
gets is media/allocation.py's decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import vp8
from .consumer import Consumer, Slot
from .sequence import TS_MASK

if TYPE_CHECKING:
    from .producer import Producer

NTP_UNIT = float(1 << 32)
FRAMES_PER_SECOND = 30  # the step assumed between two layers' frames when no sender report relates them
HALF_TS = 0x80000000


def switched_ts_offset(old: Producer, new: Producer, ts_off: int, new_ts: int) -> int:
    """Return the timestamp offset that puts layer ``new``'s packet ``new_ts`` after what ``old`` sent.

    Layers are encoded from one camera but count timestamps from their own random start. The sender
    reports of both say which RTP time each had at one NTP instant, which gives the exact difference
    (and keeps lip sync); without both reports, or if the result would not move forward, the new
    layer's frame is put one frame after the old layer's newest.
    """
    last_out = ((old.max_ts or 0) + ts_off) & TS_MASK
    if old.sr_ntp and new.sr_ntp:
        seconds = (new.sr_ntp - old.sr_ntp) / NTP_UNIT
        old_at_new_report = old.sr_rtp + round(seconds * old.clock_rate)
        offset = (old_at_new_report - new.sr_rtp + ts_off) & TS_MASK
        ahead = (new_ts + offset - last_out) & TS_MASK
        if 0 < ahead < HALF_TS:
            return offset
    return (last_out + old.clock_rate // FRAMES_PER_SECOND - new_ts) & TS_MASK


class LayeredConsumer(Consumer):
    """A Consumer of a simulcast track: it can change layers, and shifts VP8's counters to match.

    While its offsets are zero (it has not switched, or the layers' counters happened to line up) it sends
    exactly as a plain Consumer does; once they are not, it becomes a ``ShiftedConsumer``, whose ``send``
    rewrites each packet body. Changing the class keeps the extra call and the copy off every consumer that
    does not need them: they run per packet and subscriber.
    """

    __slots__ = ("picture_off", "tl0_off")

    def __init__(self, consumer_id: str, producer: Producer, slot: Slot, subscriber_id: str) -> None:
        super().__init__(consumer_id, producer, slot, subscriber_id)
        self.picture_off = 0
        self.tl0_off = 0

    def switch_layer(self, layer: Producer, ext: int, ts: int, picture: int, tl0: int) -> None:
        """Carry ``layer`` from its key frame (extended number ``ext``, timestamp ``ts``, VP8 ``picture`` id
        and ``tl0`` index) on.

        Called by the layer as that key frame arrives; the consumer leaves its old layer's fan-out here and
        the layer adds it to its own.
        """
        old = self.producer
        if old is not layer:
            old.remove_consumer(self)
            newest = old.newest()
            if newest is not None:
                self.hold(newest + 1)  # the subscriber's numbers go on right after the old layer's
            self.ts_off = switched_ts_offset(old, layer, self.ts_off, ts)
            old_picture, old_tl0 = old.newest_counters()
            if old_picture >= 0 and picture >= 0:
                sent = (old_picture + self.picture_off) & vp8.PICTURE_ID_MASK
                self.picture_off = (sent + 1 - picture) & vp8.PICTURE_ID_MASK
            if old_tl0 >= 0 and tl0 >= 0:
                sent = (old_tl0 + self.tl0_off) & vp8.TL0_MASK
                self.tl0_off = (sent + 1 - tl0) & vp8.TL0_MASK
            self.__class__ = ShiftedConsumer if self.picture_off or self.tl0_off else LayeredConsumer
            self.producer = layer
            self.switches += 1
        self.pending = None
        self.active = True
        self.resume(ext, ts)


class ShiftedConsumer(LayeredConsumer):
    """A LayeredConsumer whose VP8 counters are shifted: every packet body it sends is rewritten."""

    __slots__ = ()

    def send(self, b0: int, marker: int, seq: int, ts: int, tail: bytes, ext: int) -> None:
        Consumer.send(self, b0, marker, seq, ts, vp8.rewrite(tail, b0, self.picture_off, self.tl0_off), ext)

    def outgoing(self, first: int, tail: bytes) -> bytes:
        return vp8.rewrite(tail, first, self.picture_off, self.tl0_off)
