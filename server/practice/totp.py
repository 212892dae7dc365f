"""Two-factor codes (RFC 6238 TOTP, 30 s steps, 6 digits) through pyotp, and the enrollment URI.

A code is good once: the login records the time step of the code it accepted (accounts.totp_last_step),
and a code whose step is not after that one is refused like a wrong code (RFC 6238 section 5.2), so a code
seen over someone's shoulder or in a proxy's log cannot be replayed within its window.
"""

from __future__ import annotations

import pyotp
from pyotp.utils import strings_equal

ISSUER = "Haven"
SKEW_STEPS = 1  # the code just before or after the current one is accepted too (clock skew)


def new_totp_secret() -> str:
    """Return a fresh base32 secret (160 bits) for an authenticator app."""
    return pyotp.random_base32(32)


def enrollment_uri(secret: str, email: str) -> str:
    """Return the otpauth:// URI an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def code_step(secret: str, code: str, now: float, *, after: int | None = None) -> int | None:
    """Return the time step ``code`` is the code of (the current one or a neighbour), or None.

    With ``after`` (the step of the last code accepted), only a later step counts: a code used once is
    refused for the rest of its window.
    """
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(int(now))
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if (after is None or step > after) and strings_equal(code, totp.generate_otp(step)):
            return step
    return None


def check_code(secret: str, code: str, now: float) -> bool:
    """Return whether ``code`` is the current code, or the one just before or after (clock skew)."""
    return code_step(secret, code, now) is not None
