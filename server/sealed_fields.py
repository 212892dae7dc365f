"""Which columns hold sealed values (server/cipher.py), and the work done over all of them.

The registry ``SEALED_FIELDS`` is the one place that knows where sealed values live: key rotation re-seals
every one of them, the start check proves the key opens them, and the one-time pass seals plain values left
from before a column was sealed. Each value is sealed with a context naming its column and row (SealedField),
so a ciphertext copied into another row or column does not open there.

Everything here is synchronous SQL on a connection the caller owns (the practice's thread, or a command).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .cipher import CipherError, Keyring, is_sealed
from .database import dialect_of


@dataclass(frozen=True)
class SealedField:
    """A column of sealed values: ``table.column``, each row found again by ``key_column``.

    A value is sealed with the context ``<context_prefix>:<v1>:<v2>…``, the values of ``context_columns``
    (default: the key column) in order, so it opens only in the row it was sealed for.
    """

    table: str
    column: str
    key_column: str
    context_prefix: str
    context_columns: tuple[str, ...] = ()

    @property
    def parts(self) -> tuple[str, ...]:
        return self.context_columns or (self.key_column,)

    def context(self, *values: object) -> str:
        """The associated data a value of this row is sealed with, from its context columns' values."""
        return ":".join((self.context_prefix, *(str(value) for value in values)))


# Every sealed column: the practice's (members' email, excusal reasons, session notes) and the records'
# (server/storage.py: session steps, live-session snapshots, mood ratings). The contexts match the sealing
# code's (server/storage.py event_context, snapshot_context, mood_context; server/practice/records.py).
SEALED_FIELDS: tuple[SealedField, ...] = (
    SealedField("members", "email_sealed", "id", "members.email"),
    SealedField("excusals", "reason_sealed", "rowid", "excusals.reason",
                ("group_id", "occurrence_key", "member_id")),
    SealedField("session_notes", "note_sealed", "session_id", "session_notes.note"),
    SealedField("session_events", "detail", "seq", "session_events.detail", ("session_id",)),
    SealedField("live_sessions", "snapshot", "room", "live_sessions.snapshot"),
    SealedField("moods", "rating_sealed", "seq", "moods.rating", ("session_id", "member_id")),
)

# Columns whose plain values from before sealing are moved, sealed, into a sealed column by ``seal_plain``:
# (sealed field, the old plain column). The plain column is left NULL (SQLite cannot drop it in a migration
# the store's older code still reads).
PLAIN_COLUMNS: tuple[tuple[SealedField, str], ...] = (
    (SEALED_FIELDS[0], "email"),
)


def _exists(db: Any, field: SealedField) -> bool:
    columns = set(dialect_of(db).columns(db, field.table)) | {"rowid"}  # rowid: PostgreSQL's ctid stands in
    return {field.column, field.key_column, *field.parts} <= columns


def _rows(db: Any, field: SealedField, limit: str = "") -> Iterator[tuple[object, str, str]]:
    """(row key, sealed value, context) of every row holding a value."""
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples, whatever the connection's row factory
    key = dialect_of(db).row_key(field.key_column)
    for row in cursor.execute(f"SELECT {key}, {field.column}, {', '.join(field.parts)} "
                              f"FROM {field.table} WHERE {field.column} IS NOT NULL {limit}").fetchall():
        yield row[0], row[1], field.context(*row[2:])


def present_fields(db: Any, fields: tuple[SealedField, ...] = SEALED_FIELDS) -> list[SealedField]:
    """The registered fields whose table and column exist in this database (a table may come later)."""
    return [field for field in fields if _exists(db, field)]


def check_opens(db: Any, keyring: Keyring, fields: tuple[SealedField, ...] = SEALED_FIELDS) -> None:
    """Raise CipherError unless the keyring opens one sealed value of every field that has any.

    Run at start and before rotation: a wrong key must stop the server at once, not fail one read later.
    """
    for field in present_fields(db, fields):
        for _, value, context in _rows(db, field, "LIMIT 1"):
            if not is_sealed(value):
                continue  # plain from before sealing (a snapshot): sealed again on its next write
            try:
                keyring.open(value, context)
            except CipherError as exc:
                raise CipherError(f"{field.table}.{field.column}: {exc}") from None


def seal_plain(db: Any, keyring: Keyring) -> int:
    """Seal every plain value left in an old plain column into its sealed column, in one transaction.

    Runs at every start and usually finds nothing; returns how many values it sealed.
    """
    sealed = 0
    db.execute(dialect_of(db).begin)
    try:
        for field, plain in PLAIN_COLUMNS:
            cursor = db.cursor()
            cursor.row_factory = None
            rows = cursor.execute(f"SELECT {dialect_of(db).row_key(field.key_column)}, {plain}, "
                                  f"{', '.join(field.parts)} FROM {field.table} WHERE {plain} IS NOT NULL").fetchall()
            for row_key, value, *context in rows:
                db.execute(f"UPDATE {field.table} SET {field.column} = ?, {plain} = NULL "
                           f"WHERE {dialect_of(db).row_key_match(field.key_column)}",
                           (keyring.seal(str(value), field.context(*context)), row_key))
                sealed += 1
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return sealed


def reseal_all(db: Any, keyring: Keyring, fields: tuple[SealedField, ...] = SEALED_FIELDS) -> int:
    """Re-seal with the keyring's current key every value sealed with another key, in one transaction.

    A value that does not open aborts the whole rotation (CipherError), so nothing is left half re-sealed.
    Plain values (not sealed) are left as they are. Returns how many values were re-sealed.
    """
    count = 0
    db.execute(dialect_of(db).begin)
    try:
        for field in present_fields(db, fields):
            for row_key, value, context in list(_rows(db, field)):
                if not is_sealed(value) or not keyring.needs_reseal(value):
                    continue
                try:
                    plain = keyring.open(value, context)
                except CipherError as exc:
                    raise CipherError(f"{field.table}.{field.column} row {row_key}: {exc}") from None
                db.execute(f"UPDATE {field.table} SET {field.column} = ? "
                           f"WHERE {dialect_of(db).row_key_match(field.key_column)}",
                           (keyring.seal(plain, context), row_key))
                count += 1
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return count


def stale_keys(db: Any, keyring: Keyring, fields: tuple[SealedField, ...] = SEALED_FIELDS) -> set[str]:
    """The key ids, other than the current one, that some sealed value still needs."""
    needed: set[str] = set()
    for field in present_fields(db, fields):
        for _, value, _context in _rows(db, field):
            if is_sealed(value) and keyring.needs_reseal(value):
                needed.add(value.split(":", 2)[1])
    return needed
