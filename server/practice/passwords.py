"""Clinician passwords: Argon2id hashes (argon2-cffi's RFC 9106 defaults), checked in constant time."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # a bound on the work one login request can ask of the KDF

_hasher = PasswordHasher()
# Checked against when the email is unknown, so an unknown account takes as long as a wrong password.
_DUMMY = _hasher.hash("haven-no-such-account")


def password_problem(password: str) -> str | None:
    """Return why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"must be at most {MAX_PASSWORD_CHARS} characters"
    return None


def hash_password(password: str) -> str:
    """Return the Argon2id hash (with its salt and parameters) to store."""
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Return whether the password matches the stored hash; with no hash, spend the same time and say no."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
