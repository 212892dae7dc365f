"""The protocol's fixed limits: one place that the validators, the state machines and ``hello`` all read.

Clients learn them from ``hello`` (docs/protocol.md section 5.1) instead of restating them.
"""

from __future__ import annotations

MAX_AGENDA_PHASES = 12
MAX_PHASE_TITLE_CHARS = 60
MAX_PHASE_MINUTES = 240
MAX_BREAKOUTS = 20
MAX_BREAKOUT_NAME_CHARS = 40
MAX_BREAKOUT_MINUTES = 240
BREAKOUT_WARNING_SECONDS = 60
MAX_HOMEWORK_CHARS = 4000
MAX_BROADCAST_CHARS = 500
MAX_CHECKIN_TEXT_CHARS = 1000
MAX_SDP_CHARS = 100_000


def protocol_limits() -> dict[str, int]:
    """Return the fixed limits in their ``hello`` form."""
    return {
        "max_agenda_phases": MAX_AGENDA_PHASES,
        "max_phase_title_chars": MAX_PHASE_TITLE_CHARS,
        "max_phase_minutes": MAX_PHASE_MINUTES,
        "max_breakouts": MAX_BREAKOUTS,
        "max_breakout_name_chars": MAX_BREAKOUT_NAME_CHARS,
        "max_breakout_minutes": MAX_BREAKOUT_MINUTES,
        "max_homework_chars": MAX_HOMEWORK_CHARS,
        "max_broadcast_chars": MAX_BROADCAST_CHARS,
        "max_checkin_text_chars": MAX_CHECKIN_TEXT_CHARS,
    }
