"""The audit chain's external anchor: its latest head, signed, kept outside the database.

Cutting entries off the end of the audit log leaves a chain that still verifies: every remaining link is
intact. An anchor closes that hole. It holds the chain's head as it was (the last entry's seq and hash, the
count of entries, when), signed with an Ed25519 key of the data directory (``audit-anchor.key``, mode
0600, made on first use). The server writes one to ``records.anchor_file`` every ``records.anchor_interval``
while the log grows; ``haven audit anchor`` prints one for the operator to keep somewhere else. ``haven
audit verify --anchor FILE`` then requires the anchored entry to be in the chain with the anchored hash.

The signature stops an edit of the anchor file by anyone without the key. Someone holding the whole data
directory can sign a shorter head, which is why a copy kept off the server (printed, mailed to the privacy
officer) is the one that proves the log whole: it names the key's fingerprint, so a re-signed anchor
shows. An anchor found not to match when the server starts is kept (renamed, never overwritten) and the
mismatch is audited, so a cut tail is written into the chain itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .periodic import Periodic

log = structlog.get_logger("haven.anchor")

KEY_FILE_NAME = "audit-anchor.key"
ANCHOR_FILE_NAME = "audit-anchor.json"
VERSION = 1
MAX_ANCHOR_BYTES = 4096  # an anchor is ~400 bytes; anything far larger is not one


class AnchorError(Exception):
    """An anchor file or key cannot be used: unreadable, malformed, or its signature does not verify."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / KEY_FILE_NAME


def anchor_path(data_dir: str, configured: str) -> Path:
    """Where the server writes its anchor: ``records.anchor_file``, or ``<data_dir>/audit-anchor.json``."""
    return Path(configured) if configured else Path(data_dir) / ANCHOR_FILE_NAME


def fingerprint(public: bytes) -> str:
    """A short name for a public key, as an operator compares it by eye."""
    return hashlib.sha256(public).hexdigest()[:16]


def load_key(data_dir: str | os.PathLike[str], *, create: bool) -> Ed25519PrivateKey | None:
    """Return the anchor's signing key; made (0600, O_EXCL so two processes agree) when ``create``.

    Without ``create`` a missing key is None (nothing was ever anchored here); a malformed one is an error.
    """
    path = key_path(data_dir)
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(_b64(raw) + "\n")
                out.flush()
                os.fsync(out.fileno())
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AnchorError(f"{path}: {exc.strerror or exc}") from None
    try:
        return Ed25519PrivateKey.from_private_bytes(_unb64(text.strip()))
    except (binascii.Error, ValueError):
        raise AnchorError(f"{path}: not an anchor key (expected base64url of 32 bytes)") from None


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Anchor:
    """A signed head of the audit chain."""

    seq: int
    hash: str
    entries: int
    at: float
    key: bytes  # the signer's public key
    signature: bytes

    def written_at(self) -> str:
        return datetime.datetime.fromtimestamp(self.at, datetime.UTC).isoformat(timespec="seconds").replace(
            "+00:00", "Z")

    def to_json(self) -> str:
        return json.dumps({"haven_audit_anchor": VERSION, "seq": self.seq, "hash": self.hash,
                           "entries": self.entries, "at": self.at, "written_at": self.written_at(),
                           "key": _b64(self.key), "key_fingerprint": fingerprint(self.key),
                           "signature": _b64(self.signature)}, indent=2) + "\n"


def _signed_bytes(seq: int, digest: str, entries: int, at: float, public: bytes) -> bytes:
    # What the signature covers: every field but the signature and the derived, human-facing ones.
    return json.dumps({"haven_audit_anchor": VERSION, "seq": seq, "hash": digest, "entries": entries,
                       "at": at, "key": _b64(public)}, sort_keys=True, separators=(",", ":")).encode()


def sign(key: Ed25519PrivateKey, seq: int, digest: str, entries: int, at: float) -> Anchor:
    """Sign the chain head (``seq``, ``digest``, ``entries``) as seen at ``at``."""
    public = public_bytes(key)
    return Anchor(seq, digest, entries, at, public, key.sign(_signed_bytes(seq, digest, entries, at, public)))


def parse(text: str) -> Anchor:
    """Read an anchor and check its signature against the key it names; AnchorError saying what is wrong."""
    if len(text) > MAX_ANCHOR_BYTES:
        raise AnchorError("not an audit anchor (too large)")
    try:
        data = json.loads(text)
    except ValueError:
        raise AnchorError("not an audit anchor (not JSON)") from None
    if not isinstance(data, dict) or data.get("haven_audit_anchor") != VERSION:
        raise AnchorError("not an audit anchor of this version")
    seq, digest, entries, at = data.get("seq"), data.get("hash"), data.get("entries"), data.get("at")
    if not (isinstance(seq, int) and seq >= 0 and isinstance(entries, int) and entries >= 0
            and isinstance(digest, str) and isinstance(at, int | float)
            and isinstance(data.get("key"), str) and isinstance(data.get("signature"), str)):
        raise AnchorError("not an audit anchor (a field is missing or of the wrong type)")
    try:
        public, signature = _unb64(data["key"]), _unb64(data["signature"])
        Ed25519PublicKey.from_public_bytes(public).verify(signature, _signed_bytes(seq, digest, entries, at, public))
    except (binascii.Error, ValueError, InvalidSignature):
        raise AnchorError("the anchor's signature does not verify: it was altered") from None
    return Anchor(seq, digest, entries, float(at), public, signature)


def read(path: str | os.PathLike[str]) -> Anchor:
    """Read and check the anchor file at ``path``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(MAX_ANCHOR_BYTES + 1)
    except OSError as exc:
        raise AnchorError(f"{path}: {exc.strerror or exc}") from None
    return parse(text)


def write(path: str | os.PathLike[str], anchor: Anchor) -> None:
    """Replace the anchor file atomically (a crash leaves the old one or the new one, never half of one)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(anchor.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def mismatch(anchor: Anchor, stored_hash: str | None, trusted: bytes | None = None, purged: int = 0) -> str | None:
    """Why the chain does not hold ``anchor`` (None: it does).

    ``stored_hash`` is the chain's hash of entry ``anchor.seq`` (None: no such entry); ``trusted`` the public
    key anchors must be signed with, when known; ``purged`` the last entry the audit retention removed.
    """
    if trusted is not None and anchor.key != trusted:
        return (f"the anchor was signed by key {fingerprint(anchor.key)}, not by this server's key "
                f"{fingerprint(trusted)}")
    if anchor.seq == 0 or (anchor.seq < purged and stored_hash is None):
        return None  # the empty log, or an entry the retention removed (the chain starts at its base)
    if stored_hash is None:
        return (f"entry {anchor.seq}, the chain's head when anchored at {anchor.written_at()}, is missing: "
                "entries were removed from the end of the log")
    if stored_hash != anchor.hash:
        return f"entry {anchor.seq} is not the one anchored at {anchor.written_at()}: the log was rewritten"
    return None


Head = tuple[int, str, int]  # the last entry's seq and hash, and the count of entries


class AnchorWriter:
    """Writes the signed chain head to the anchor file while the server runs, and reports its state.

    ``head`` and ``entry_hash`` read the committed chain (Storage's reader thread); ``audit`` records an
    entry. At start an existing anchor is checked first: a mismatch is audited and the file kept beside
    (``<name>.mismatch-<time>``) before a new head is written, so the evidence outlives the restart.
    """

    def __init__(self, path: Path, key: Ed25519PrivateKey, head: Callable[[], Awaitable[Head]],
                 entry_hash: Callable[[int], Awaitable[str | None]], audit: Callable[..., None],
                 committed: Callable[[], Awaitable[object]], interval: float, clock: Callable[[], float]) -> None:
        self.path = path
        self.key = key
        self.public = public_bytes(key)
        self.head = head
        self.entry_hash = entry_hash
        self.audit = audit
        self.committed = committed
        self.clock = clock
        self.last: Anchor | None = None
        self._periodic = Periodic(self.write_once, interval, "audit_anchor_write_failed", wait_first=True)
        self._started = False

    async def start(self) -> None:
        if not await self._check_existing():
            await self.committed()  # the new anchor covers the audited mismatch
        await self.write_once()
        self._periodic.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._periodic.stop()
            with contextlib.suppress(Exception):
                await self.write_once()  # the head at shutdown: what a restart is checked against

    async def _check_existing(self) -> bool:
        """True when there is no anchor yet or the chain holds it; else keep it aside, audited."""
        try:
            existing = await asyncio.to_thread(read, self.path)
        except AnchorError:
            if not self.path.exists():
                return True
            self._keep_aside("anchor-unreadable", None)  # unreadable or altered: kept for who investigates
            return False
        if mismatch(existing, await self.entry_hash(existing.seq), self.public) is not None:
            self._keep_aside("anchor-mismatch", existing)
            return False
        self.last = existing
        return True

    def _keep_aside(self, reason: str, existing: Anchor | None) -> None:
        kept = self.path.with_name(f"{self.path.name}.mismatch-{int(self.clock())}")
        with contextlib.suppress(OSError):
            os.replace(self.path, kept)
        detail: dict[str, Any] = {"reason": reason, "kept_as": kept.name}
        if existing is not None:
            detail.update(anchored_seq=existing.seq, anchored_at=existing.written_at())
        self.audit("audit-anchor-mismatch", role="server", detail=detail)
        log.error("audit_anchor_mismatch", reason=reason)

    async def write_once(self) -> Anchor | None:
        """Sign and write the current head when it moved since the last anchor; return the latest anchor."""
        seq, digest, entries = await self.head()
        if seq == 0 or (self.last is not None and (self.last.seq, self.last.hash) == (seq, digest)):
            return self.last
        anchor = sign(self.key, seq, digest, entries, self.clock())
        await asyncio.to_thread(write, self.path, anchor)
        self.last = anchor
        return anchor

    async def status(self) -> dict[str, Any] | None:
        """The anchor's state for the audit viewer (docs/openapi.yaml AuditAnchor); None before the first."""
        anchor = self.last
        if anchor is None:
            return None
        matches = mismatch(anchor, await self.entry_hash(anchor.seq), self.public) is None
        return {"seq": anchor.seq, "hash": anchor.hash, "at": anchor.written_at(), "matches": matches}
