"""Active-speaker detection from RFC 6464 audio levels, as a pure state machine (no clock, no I/O)."""

from __future__ import annotations

# Loudness is 127 - dBov (RFC 6464 sends 0..127 dB below full scale): 0 is silence. Speech sits
# around -20..-40 dBov, background noise below -50, so 127 - 50 is the floor for "speaking".
SPEAKING_LOUDNESS = 77
# A different participant must be the loudest this many ticks in a row before the highlight moves,
# so a cough or a crosstalk burst does not make the video layout jump.
SWITCH_TICKS = 2


class ActiveSpeakerDetector:
    """Picks the dominant speaker from per-tick average loudness; keeps the last one through silence."""

    def __init__(self, threshold: float = SPEAKING_LOUDNESS, switch_ticks: int = SWITCH_TICKS) -> None:
        self.threshold = threshold
        self.switch_ticks = switch_ticks
        self.current: str | None = None
        self._candidate: str | None = None
        self._streak = 0

    def tick(self, loudness: dict[str, float]) -> tuple[bool, str | None]:
        """Feed one window's average loudness per participant; return (changed, current speaker)."""
        if self.current is not None and self.current not in loudness:
            # The speaker left or stopped publishing audio.
            self.current = None
            self._candidate, self._streak = None, 0
            return True, None
        loudest = None
        best = self.threshold
        for participant, value in loudness.items():
            if value >= best:
                loudest, best = participant, value
        if self.current is not None and loudness[self.current] >= best:
            loudest = self.current  # a tie keeps the current speaker
        if loudest is None or loudest == self.current:
            self._candidate, self._streak = None, 0
            return False, self.current
        if loudest == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = loudest, 1
        if self._streak >= self.switch_ticks:
            self.current = loudest
            self._candidate, self._streak = None, 0
            return True, loudest
        return False, self.current
