"""Two-factor codes (RFC 6238 TOTP, 30 s steps, 6 digits) through pyotp, and the enrollment URI."""

from __future__ import annotations

import pyotp

ISSUER = "Haven"


def new_totp_secret() -> str:
    """Return a fresh base32 secret (160 bits) for an authenticator app."""
    return pyotp.random_base32(32)


def enrollment_uri(secret: str, email: str) -> str:
    """Return the otpauth:// URI an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def check_code(secret: str, code: str, now: float) -> bool:
    """Return whether ``code`` is the current code, or the one just before or after (clock skew)."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return False
    return pyotp.TOTP(secret).verify(code, for_time=int(now), valid_window=1)
