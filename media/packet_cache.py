"""A ring of a Producer's recent packets, to answer subscribers' NACKs without asking the publisher."""

from __future__ import annotations


class PacketCache:
    """Keeps the last ``size`` decrypted RTP packets of one stream, indexed by sequence number.

    ``size`` is a power of two so a slot is ``seq & mask``; a slot is reused 65536/size times per
    sequence cycle, so ``get`` checks the stored packet's own sequence number before returning it.
    """

    __slots__ = ("_slots", "_mask")

    def __init__(self, size: int = 1024) -> None:
        if size <= 0 or size & (size - 1) or size > 32768:
            raise ValueError("cache size must be a power of two up to 32768")
        self._slots: list[bytes | None] = [None] * size
        self._mask = size - 1

    def put(self, seq: int, packet: bytes) -> None:
        """Store a packet under its sequence number, replacing whatever shared the slot."""
        self._slots[seq & self._mask] = packet

    def get(self, seq: int) -> bytes | None:
        """Return the packet with this sequence number, or None if it was never seen or is gone."""
        p = self._slots[seq & self._mask]
        if p is None or len(p) < 4 or ((p[2] << 8) | p[3]) != seq:
            return None
        return p

    def clear(self) -> None:
        """Forget every packet."""
        self._slots = [None] * (self._mask + 1)
