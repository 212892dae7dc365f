"""The records' two backends for tests that run on both: where a test's records live, and raw SQL on them.

``records_where`` (a fixture parametrized over ``BACKENDS``) is what Storage, PracticeStore and connect take:
a SQLite file's path, or a Target naming a fresh PostgreSQL database of tests/support/postgres.py's server
(started only when a PostgreSQL case runs). ``tamper`` changes the database behind Haven's back, as someone
with the file or a database login could.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server.database import POSTGRESQL, SQLITE, Target

BACKENDS = (SQLITE, POSTGRESQL)


def where_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | Target:
    if backend == SQLITE:
        return str(tmp_path / "data" / "haven.db")
    return Target(POSTGRESQL, url=request.getfixturevalue("postgresql_url"))


@pytest.fixture(params=BACKENDS)
def records_where(request: pytest.FixtureRequest, tmp_path: Path) -> str | Target:
    return where_for(request.param, request, tmp_path)


def is_postgresql(where: Any) -> bool:
    return isinstance(where, Target) and where.postgresql


def storage_toml(where: str | Target) -> str:
    """The config's [storage] table naming these records."""
    if isinstance(where, Target) and where.postgresql:
        return f'[storage]\nbackend = "postgresql"\npostgresql_url = "{where.url}"\n'
    return f'[storage]\npath = "{where}"\n'


# A trigger's table, for PostgreSQL's DROP TRIGGER … ON <table>.
_TRIGGER_TABLES = {"audit_no_update": "audit", "audit_no_delete": "audit", "audit_no_truncate": "audit",
                   "audit_base_no_update": "audit_base", "audit_base_no_delete": "audit_base"}


def _postgresql_form(statement: str) -> str:
    words = statement.split()
    if words[:2] == ["DROP", "TRIGGER"] and "ON" not in words:
        name = words[-1]
        if name == "audit_base_no_delete":  # one PostgreSQL trigger refuses both UPDATE and DELETE
            name = "audit_base_no_update"
        return f"DROP TRIGGER IF EXISTS {name} ON {_TRIGGER_TABLES[name]}"
    return statement


def tamper(where: str | Path | Target, *statements: str) -> None:
    """Run statements on the records outside Haven (SQLite's forms; DROP TRIGGER is translated)."""
    if isinstance(where, Target) and where.postgresql:
        import psycopg

        with psycopg.connect(where.url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(_postgresql_form(statement).encode())  # bytes: no placeholders parsed
        return
    db = sqlite3.connect(str(where.path if isinstance(where, Target) else where))
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


def query(where: str | Path | Target, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query run outside Haven, with SQLite's ``?`` placeholders for ``params``."""
    if isinstance(where, Target) and where.postgresql:
        import psycopg

        with psycopg.connect(where.url, autocommit=True) as conn:
            # Without parameters the text goes as bytes, so that no % in it is read as a placeholder.
            cursor = conn.execute(sql.replace("?", "%s"), params) if params else conn.execute(sql.encode())
            return [tuple(row) for row in cursor.fetchall()]
    db = sqlite3.connect(str(where.path if isinstance(where, Target) else where))
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def refused() -> tuple[type[BaseException], ...]:
    """What a refused statement raises on either backend (a trigger's RAISE, a failed constraint)."""
    import psycopg

    return (sqlite3.IntegrityError, psycopg.Error)


def config_for(backend: str, request: pytest.FixtureRequest) -> str:
    """Extra config TOML putting a test server's records on ``backend`` (SQLite: the default, nothing)."""
    if backend == SQLITE:
        return ""
    return storage_toml(Target(POSTGRESQL, url=request.getfixturevalue("postgresql_url")))
