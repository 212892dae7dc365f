"""Encryption at rest for clinical fields (mood ratings, session notes, members' contact details).

AES-256-GCM from `cryptography`, one field at a time, so the rest of the database stays plain SQLite that
any tool can read. A sealed value is text: ``hv1:<key id>:<base64url(nonce || ciphertext+tag)>``. Each
seal binds a *context* as GCM's associated data (the table, column and row it belongs to, e.g.
``members.email:m-3f9a…``), so a ciphertext copied into another row or column does not open there.

Keys live in a keyring: the file ``records.key`` in the data directory (mode 0600, created on first use)
or the environment variable ``HAVEN_RECORDS_KEY``, which wins when set. Both hold one key per line,
``<key id>:<base64url 32 bytes>``; the first line is the current key, which seals; every line opens.
Rotation adds a new first line; once every sealed value has been re-sealed with it (``haven records
rotate-key``), the old lines can go.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "hv1"
KEY_FILE_NAME = "records.key"
KEY_ENV = "HAVEN_RECORDS_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce; random per seal (2^-32 collision bound far beyond our volume)


class CipherError(Exception):
    """A sealed value cannot be opened (unknown key, wrong key, altered, or not sealed), or a keyring is bad."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes


def new_key() -> Key:
    """Return a fresh random key with a short random id."""
    return Key(secrets.token_hex(4), secrets.token_bytes(KEY_BYTES))


def format_keys(keys: list[Key]) -> str:
    """Render a keyring the way the key file and HAVEN_RECORDS_KEY hold it (current key first)."""
    return "".join(f"{key.id}:{_b64(key.secret)}\n" for key in keys)


def parse_keys(text: str, source: str) -> list[Key]:
    """Parse a keyring's text; CipherError naming ``source`` and the line when it is malformed."""
    keys: list[Key] = []
    for number, line in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        key_id, sep, encoded = line.partition(":")
        try:
            secret = _unb64(encoded) if sep else b""
        except (binascii.Error, ValueError):
            secret = b""
        if not key_id.isalnum() or len(secret) != KEY_BYTES:
            raise CipherError(f"{source}, key {number}: expected <key id>:<base64url of {KEY_BYTES} bytes>")
        if any(k.id == key_id for k in keys):
            raise CipherError(f"{source}, key {number}: key id {key_id} appears twice")
        keys.append(Key(key_id, secret))
    if not keys:
        raise CipherError(f"{source}: holds no key")
    return keys


class Keyring:
    """Seals with the current key; opens with any key it holds."""

    def __init__(self, keys: list[Key]) -> None:
        if not keys:
            raise CipherError("a keyring needs at least one key")
        self.keys = list(keys)
        self._aead = {key.id: AESGCM(key.secret) for key in keys}

    @property
    def current(self) -> Key:
        return self.keys[0]

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext`` for the row and column named by ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current.id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}:{self.current.id}:{_b64(nonce + sealed)}"

    def open(self, token: str, context: str) -> str:
        """Decrypt a sealed value; CipherError if it is not sealed, its key is unknown, or it was altered."""
        prefix, key_id, body = (token.split(":", 2) + ["", ""])[:3] if isinstance(token, str) else ("", "", "")
        if prefix != PREFIX or not body:
            raise CipherError("not a sealed value")
        aead = self._aead.get(key_id)
        if aead is None:
            raise CipherError(f"sealed with key {key_id}, which this keyring does not hold")
        try:
            raw = _unb64(body)
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError):
            raise CipherError("the sealed value does not open with its key (altered, or another row's)") from None

    def needs_reseal(self, token: str) -> bool:
        """True when ``token`` was sealed with a key other than the current one."""
        return not token.startswith(f"{PREFIX}:{self.current.id}:")


def is_sealed(value: object) -> bool:
    """True for a value this module sealed (as opposed to plain text or NULL)."""
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def key_file(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / KEY_FILE_NAME


def load_keyring(data_dir: str | os.PathLike[str], env: dict[str, str] | None = None, *,
                 create: bool = True) -> Keyring:
    """Return the records' keyring: HAVEN_RECORDS_KEY when set, else ``records.key`` in the data directory.

    The file is made (0600, O_EXCL so two starting processes agree) when ``create`` and it does not exist;
    without ``create`` a missing file is a CipherError (commands run beside a server must not invent a key).
    """
    environ = os.environ if env is None else env
    if environ.get(KEY_ENV):
        return Keyring(parse_keys(environ[KEY_ENV], KEY_ENV))
    path = key_file(data_dir)
    if not path.exists():
        if not create:
            raise CipherError(f"{path.resolve()} does not exist and {KEY_ENV} is not set")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(format_keys([new_key()]))
    if os.stat(path).st_mode & 0o077:  # take away any group or world access first
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return Keyring(parse_keys(path.read_text(), str(path)))


def write_keyring(data_dir: str | os.PathLike[str], keys: list[Key]) -> Path:
    """Replace the key file atomically (a new file, 0600, renamed over the old one)."""
    path = key_file(data_dir)
    scratch = path.with_name(path.name + ".new")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(format_keys(keys))
        file.flush()
        os.fsync(file.fileno())
    os.replace(scratch, path)
    return path
