"""Owns the `haven` command line: serve, token, admin create-user, check-config, audit verify and anchor,
backup, restore, records, report attendance, --version."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import importlib.metadata
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from server.auth import ROLES, ROOM_RULE, TokenError, TokenIssuer, is_valid_room, join_url
from server.config import (
    SECRET_FILE_NAME,
    Config,
    ConfigError,
    existing_secret,
    format_duration,
    load_config,
    parse_duration,
)

if TYPE_CHECKING:
    from server.database import Target
    from server.storage import ChainCheck

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # `audit verify`: the chain is intact, but records were lost while the disk failed


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"haven: {message}", file=sys.stderr)
    return code


# What stays SQLite-only: PostgreSQL has its own tools for consistent copies of a live database.
SQLITE_ONLY_BACKUP = ('haven backup copies the SQLite file; with storage.backend = "postgresql" back up the '
                      "database with pg_dump and restore it with pg_restore (and keep the records key apart)")
SQLITE_ONLY_RESTORE = ('haven restore replaces the SQLite file; with storage.backend = "postgresql" restore a '
                       "pg_dump of the database with pg_restore")


def _load(path: str | None) -> Config:
    return load_config(path or os.environ.get("HAVEN_CONFIG") or None)


def _on_records(args: argparse.Namespace, work: Callable[[Config], int], *, stopped_to: str | None = None,
                failures: tuple[type[Exception], ...] = ()) -> int:
    """Run a command that works on the records: load the config, then ``work(config)`` for the exit status.

    ``stopped_to`` (what the command does, for the message) means no server may run meanwhile: the instance
    lock (server/instance_lock.py) is held exclusively around ``work``, and refused while a server holds it.
    A ConfigError, when loading or from ``work``, is a config error (exit 2); one of ``failures`` an ordinary
    failure (exit 1), its message as it is.
    """
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    lock = None
    if stopped_to is not None:
        from server.instance_lock import Busy, hold

        try:
            lock = hold(config.records_target, exclusive=True)
        except Busy as exc:
            return _fail(f"a Haven server is using these records ({exc} is held): stop it first, then {stopped_to}",
                         EXIT_FAILURE)
        except ConnectionError as exc:
            return _fail(f"{exc} (storage.postgresql_url)", EXIT_FAILURE)
    try:
        return work(config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    except ConnectionError as exc:  # PostgreSQL unreachable (a refused connection, a wrong password)
        return _fail(f"{exc} (storage.postgresql_url)", EXIT_FAILURE)
    except failures as exc:
        return _fail(str(exc), EXIT_FAILURE)
    finally:
        if lock is not None:
            lock.close()


def _serve(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    if args.workers is not None:
        from server.logs import configure_logging
        from server.workers import run_workers, worker_count

        try:
            count = worker_count(args.workers)
        except ValueError as exc:
            return _fail(str(exc))
        configure_logging(config.logging.level, config.logging.format)
        try:
            return run_workers(config, count, args.config)
        except ConfigError as exc:
            return _fail(f"config error: {exc}")
    # Imported here so `token` and `check-config` work without loading the media stack.
    from server.app import serve

    try:
        return serve(config, dev=args.dev)
    except ConfigError as exc:  # checks that need the running stack (e.g. media.forwarding = "c")
        return _fail(f"config error: {exc}")


def _nodes_config(path: str | None) -> tuple[Config | None, int]:
    try:
        config = _load(path)
    except ConfigError as exc:
        return None, _fail(f"config error: {exc}")
    if not config.nodes.redis_url:
        return None, _fail("config error: nodes.redis_url: not set, so this server is the only node")
    return config, 0


def _nodes(args: argparse.Namespace) -> int:
    """List the live nodes with their load (counts only: no room or participant names)."""
    from server.nodes import list_nodes

    config, code = _nodes_config(args.config)
    if config is None:
        return code
    try:
        nodes = asyncio.run(list_nodes(config.nodes.redis_url))
    except Exception as exc:
        return _fail(f"cannot read the nodes from Redis: {type(exc).__name__}", EXIT_FAILURE)
    if args.json:
        print(json.dumps([node.as_dict() for node in nodes], indent=2))
        return 0
    print(f"{'node':<28} {'state':<9} {'rooms':>5} {'placed':>6} {'people':>6} {'capacity':>8} {'pkt/s':>8} "
          f"{'cpu':>5}  udp")
    for node in nodes:
        state = "draining" if node.draining else "leader" if node.leader else "live"
        print(f"{node.node_id:<28} {state:<9} {node.load.rooms:>5} {node.placed_rooms:>6} "
              f"{node.load.participants:>6} {node.capacity:>8} {node.load.packets_per_s:>8.0f} "
              f"{node.load.cpu * 100:>4.0f}%  {node.udp_port}")
    if not nodes:
        print("(no live node)")
    return 0


def _node_drain(args: argparse.Namespace) -> int:
    """Mark a node drained: it takes no new rooms; its rooms finish."""
    from server.nodes import drain_node

    config, code = _nodes_config(args.config)
    if config is None:
        return code
    try:
        found = asyncio.run(drain_node(config.nodes.redis_url, args.node))
    except Exception as exc:
        return _fail(f"cannot reach Redis: {type(exc).__name__}", EXIT_FAILURE)
    if not found:
        return _fail(f"no live node is called {args.node!r} (see `haven nodes`)", EXIT_FAILURE)
    print(f"{args.node} is drained: it takes no new rooms, and its rooms go on until they end.")
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    if not is_valid_room(args.room):
        return _fail(f"invalid room name {args.room!r}: use {ROOM_RULE}")
    if args.ttl is None:
        ttl = config.auth.default_ttl
    else:
        try:
            ttl = parse_duration(args.ttl)
        except ValueError as exc:
            return _fail(f"--ttl: {exc}")
    if not 0 < ttl <= config.auth.max_ttl:
        limit = format_duration(config.auth.max_ttl)
        return _fail(f"--ttl {args.ttl}: must be more than 0s and at most auth.max_ttl ({limit})")
    try:
        secret = existing_secret(config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_FAILURE)
    except OSError as exc:
        return _fail(f"cannot read the auth secret in {config.server.data_dir}: {exc}", EXIT_FAILURE)
    starts_at = None
    if args.starts_at:
        try:
            starts_at = datetime.datetime.fromisoformat(args.starts_at).timestamp()
        except ValueError:
            return _fail(f"--starts-at {args.starts_at!r}: use ISO 8601, e.g. 2026-12-01T18:00+01:00")
    issuer = TokenIssuer(secret, config.auth.issuer, config.auth.audience, config.auth.max_ttl)
    try:
        token = issuer.issue(args.room, args.name, args.role, ttl, sub=args.sub, starts_at=starts_at)
    except TokenError as exc:
        return _fail(str(exc))
    print(join_url(config.public_url, args.room, token))
    return EXIT_OK


def _check_config(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    print(f"ok: {args.file}")
    return EXIT_OK


def _verify_chain(where: str | Target, anchored_seq: int | None = None) -> tuple[ChainCheck, str | None]:
    """Open the records (a SQLite file's path or a Target), check the audit log's hash chain and read entry
    ``anchored_seq``'s hash."""
    from server.storage import Storage  # here, so `token` and `check-config` need no database

    storage = Storage(where)
    try:
        stored = storage.entry_hash(anchored_seq) if anchored_seq else None
        return storage.verify_chain(), stored
    finally:
        storage.close()


def _audit_verify(args: argparse.Namespace) -> int:
    from server.anchor import AnchorError, fingerprint, load_key, mismatch, public_bytes, read

    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    target = config.records_target
    path = target.describe()
    if not target.postgresql and not os.path.exists(target.path):
        return _fail(f"no audit log at {path}", EXIT_FAILURE)
    anchor = None
    if args.anchor is not None:
        try:
            anchor = read(args.anchor)
            key = load_key(config.server.data_dir, create=False)
        except AnchorError as exc:
            return _fail(f"anchor {args.anchor}: {exc}", EXIT_FAILURE)
    try:
        check, stored = _verify_chain(target, anchor.seq if anchor else None)
    except ConnectionError as exc:
        return _fail(f"{exc} (storage.postgresql_url)", EXIT_FAILURE)
    if not check.ok:
        print(f"haven: audit log TAMPERED: entry {check.first_bad_seq} {check.problem} "
              f"({check.entries} entries verified before it; {path})", file=sys.stderr)
        return EXIT_FAILURE
    anchored = ""
    if anchor is not None:
        problem = mismatch(anchor, stored, public_bytes(key) if key is not None else None, check.purged)
        if problem is not None:
            print(f"haven: audit log CUT OR REWRITTEN: {problem} (the chain itself is intact over "
                  f"{check.entries} entries; {path})", file=sys.stderr)
            return EXIT_FAILURE
        anchored = (f"; holds the anchor of {anchor.written_at()} (entry {anchor.seq}, "
                    f"key {fingerprint(anchor.key)})")
    if check.gaps:
        where = ", ".join(str(seq) for seq in check.gaps)
        print(f"haven: audit log INCOMPLETE: hash chain intact over {check.entries} entries{anchored}, but "
              f"{check.lost} records were lost while the database could not be written: {len(check.gaps)} "
              f"gap{'s' if len(check.gaps) != 1 else ''}, recorded at entr{'ies' if len(check.gaps) != 1 else 'y'} "
              f"{where} ({path})", file=sys.stderr)
        return EXIT_INCOMPLETE
    if check.purged:
        anchored += f"; entries up to {check.purged} were purged by the audit retention"
    print(f"ok: {check.entries} audit entries, hash chain intact, no records lost{anchored} ({path})")
    return EXIT_OK


def _audit_anchor(args: argparse.Namespace) -> int:
    """Sign the audit chain's current head and print it (``--output FILE``: write it there instead)."""
    from server.anchor import AnchorError, load_key, sign, write
    from server.storage import Storage

    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    target = config.records_target
    if not target.postgresql and not os.path.exists(target.path):
        return _fail(f"no audit log at {target.path}", EXIT_FAILURE)
    try:
        key = load_key(config.server.data_dir, create=True)
    except (AnchorError, OSError) as exc:
        return _fail(f"anchor key: {exc}", EXIT_FAILURE)
    assert key is not None  # made when missing
    try:
        storage = Storage(target)
    except ConnectionError as exc:
        return _fail(f"{exc} (storage.postgresql_url)", EXIT_FAILURE)
    try:
        check = storage.verify_chain()
        seq, digest, entries = storage.chain_head()
    finally:
        storage.close()
    if not check.ok:  # never sign a head that does not verify: the anchor would vouch for tampering
        return _fail(f"audit log TAMPERED at entry {check.first_bad_seq}: {check.problem}; not anchored",
                     EXIT_FAILURE)
    anchor = sign(key, seq, digest, entries, time.time())
    if args.output is None:
        sys.stdout.write(anchor.to_json())
        return EXIT_OK
    try:
        write(args.output, anchor)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_FAILURE)
    print(f"ok: anchored entry {seq} of {entries} in {args.output}")
    return EXIT_OK


def _backup(args: argparse.Namespace) -> int:
    """Back up the records while Haven runs: into one FILE (``--with-key``: and its key), or ``--to DIR``."""
    if (args.file is None) == (args.to is None):
        return _fail("backup: give one FILE to write (or --to DIR)")
    if args.to is not None:
        return _backup_to_dir(args)
    try:
        config = _load(args.config)
        if config.records_target.postgresql:
            return _fail(SQLITE_ONLY_BACKUP, EXIT_FAILURE)
        from server.backup import BackupError, backup
        from server.records_key import key_source, records_keyring

        keyring = records_keyring(config.server.data_dir, create=False) if args.with_key else None
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    try:
        made = backup(config.database_path, Path(args.file), keyring, config.server.data_dir)
    except BackupError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    print(f"ok: {made.path} ({made.entries} audit entries, hash chain intact)")
    if made.anchor_key_path is not None:
        print(f"the audit anchor key is in {made.anchor_key_path}, so anchors kept elsewhere still verify after a "
              "restore")
    if made.key_path is not None:
        print(f"the records key is in {made.key_path}: whoever holds both files can read the sealed records; "
              "keep them somewhere safe")
    else:
        print(f"sealed fields (members' contact details, clinical notes) stay sealed in it: keep a copy of the "
              f"records key ({key_source(config.server.data_dir)}) apart from it, or it cannot be read")
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    """Replace the records with a checked backup; refuses while a server uses them."""
    from server.anchor import key_path as anchor_key_path
    from server.backup import BackupError, restore
    from server.cipher import KEY_ENV, key_file
    from server.records_key import records_keyring

    def work(config: Config) -> int:
        if config.records_target.postgresql:
            return _fail(SQLITE_ONLY_RESTORE, EXIT_FAILURE)
        data_dir = config.server.data_dir
        has_key = bool(os.environ.get(KEY_ENV)) or key_file(data_dir).exists()
        keyring = records_keyring(data_dir, create=False) if has_key else None
        done = restore(Path(args.file), config.database_path, keyring, data_dir)
        print(f"ok: restored {config.database_path} from {args.file} ({done.entries} audit entries, hash chain "
              "intact)")
        if done.previous is not None:
            print(f"the previous database is kept as {done.previous}")
        if done.key_installed:
            print(f"the records key saved with the backup is now {key_file(data_dir)}")
        if done.anchor_key in ("installed", "replaced"):
            print(f"the audit anchor key saved with the backup is now {anchor_key_path(data_dir)}")
        if done.previous_anchor_key is not None:
            print(f"the previous audit anchor key is kept as {done.previous_anchor_key}")
        return EXIT_OK

    return _on_records(args, work, stopped_to="restore", failures=(BackupError,))


def _backup_to_dir(args: argparse.Namespace) -> int:
    """Copy the records (and the generated secret) into a new directory, consistently, while Haven runs."""
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    if config.records_target.postgresql:
        return _fail(SQLITE_ONLY_BACKUP, EXIT_FAILURE)
    source = config.database_path
    if not os.path.exists(source):
        return _fail(f"no database at {source}", EXIT_FAILURE)
    target = Path(args.to)
    try:
        target.mkdir(mode=0o700, parents=True)  # a new directory: never mix two backups or overwrite one
    except FileExistsError:
        return _fail(f"--to {target}: already exists; give a new directory", EXIT_FAILURE)
    except OSError as exc:
        return _fail(f"--to {target}: {exc.strerror}", EXIT_FAILURE)
    copy = target / "haven.db"
    try:
        # SQLite's online backup: a consistent snapshot even while the server writes (WAL included),
        # which copying the file with cp is not.
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as live, sqlite3.connect(copy) as out:
            live.backup(out)
        secret = Path(config.server.data_dir) / SECRET_FILE_NAME
        if not config.auth.secret and secret.exists():
            # Without it every join link and resume credential issued so far stops verifying.
            shutil.copyfile(secret, target / SECRET_FILE_NAME)
            os.chmod(target / SECRET_FILE_NAME, 0o600)
        from server.anchor import KEY_FILE_NAME as ANCHOR_KEY

        anchor_key = Path(config.server.data_dir) / ANCHOR_KEY
        if anchor_key.exists():  # so anchors kept elsewhere still name this server's key after a move
            shutil.copyfile(anchor_key, target / ANCHOR_KEY)
            os.chmod(target / ANCHOR_KEY, 0o600)
    except (OSError, sqlite3.Error) as exc:
        return _fail(f"backup failed: {exc}", EXIT_FAILURE)
    check, _ = _verify_chain(str(copy))
    if not check.ok:
        return _fail(f"backup written to {target}, but its audit chain does not verify: entry "
                     f"{check.first_bad_seq} {check.problem}", EXIT_FAILURE)
    print(f"ok: {target} ({check.entries} audit entries, hash chain intact)")
    return EXIT_OK


def _rotate_key(args: argparse.Namespace) -> int:
    """Seal every sealed value with a new key, then drop the old ones; refuses while a server runs."""
    from server.cipher import KEY_ENV, CipherError, Keyring, format_keys, new_key, write_keyring
    from server.practice.store import connect
    from server.records_key import records_keyring, wrong_key
    from server.sealed_fields import check_opens, reseal_all, stale_keys
    from server.storage import Storage

    def work(config: Config) -> int:
        data_dir = config.server.data_dir
        try:
            old = records_keyring(data_dir, create=False)
            from_env = bool(os.environ.get(KEY_ENV))
            db = connect(config.records_target)
            try:
                check_opens(db, old)
                rotated = Keyring([new_key(), *old.keys])
                if not from_env:
                    write_keyring(data_dir, rotated.keys)  # both keys first: a crash part-way loses nothing
                count = reseal_all(db, rotated)
                left = stale_keys(db, rotated)
            finally:
                db.close()
            if left:
                return _fail(f"values sealed with {', '.join(sorted(left))} remain; the old keys were kept",
                             EXIT_FAILURE)
            final = Keyring([rotated.current])
            if not from_env:
                write_keyring(data_dir, final.keys)
            storage = Storage(config.records_target)
            storage.audit("records-key-rotated", role="operator", detail={"resealed": count, "key": final.current.id})
            storage.close()
        except CipherError as exc:
            raise wrong_key(data_dir, exc) from None  # a config error: the key in place does not open the records
        print(f"ok: {count} sealed values re-sealed with key {final.current.id}; the old key is no longer needed")
        if from_env:
            print(f"set {KEY_ENV} to this new keyring before starting the server:")
            print(format_keys(final.keys), end="")
        return EXIT_OK

    # The server caches nothing sealed, but it would seal new values with the old key mid-rotation.
    return _on_records(args, work, stopped_to="rotate")


def _purge(args: argparse.Namespace) -> int:
    """Delete the records older than records.retention now (``--dry-run``: only count them)."""
    from server.practice.store import connect
    from server.retention import cutoff_for, purge
    from server.storage import Storage

    def work(config: Config) -> int:
        target = config.records_target
        if not target.postgresql and not os.path.exists(target.path):
            return _fail(f"no database at {target.path}", EXIT_FAILURE)
        storage = Storage(target)  # first, so the records' tables exist
        try:
            db = connect(target)
            try:
                counts = purge(db, cutoff_for(config.records.retention), dry_run=args.dry_run)
            finally:
                db.close()
            if not args.dry_run and any(counts.values()):
                storage.audit("records-purged", role="operator", detail=counts)
            # The audit log's own, longer retention; the purge audits itself (audit-purged).
            audit = storage.purge_audit(cutoff_for(config.records.audit_retention), dry_run=args.dry_run)
        finally:
            storage.close()
        verb = "would delete" if args.dry_run else "deleted"
        listed = ", ".join(f"{count} {table}" for table, count in counts.items())
        print(f"ok: {verb} {listed} (older than {format_duration(config.records.retention)}) and {audit} audit "
              f"entries (older than {format_duration(config.records.audit_retention)})")
        return EXIT_OK

    # Safe beside a running server (which purges daily itself): no instance lock.
    return _on_records(args, work)


def _read_password() -> str | None:
    """Read the new password: prompted twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _create_user(args: argparse.Namespace) -> int:
    """Create a dashboard account (the first admin, typically); the password never appears on the command line."""
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    password = _read_password()
    if password is None:
        return _fail("the two passwords differ", EXIT_FAILURE)
    import asyncio

    from server.practice.accounts import Accounts
    from server.practice.errors import PracticeError
    from server.practice.lockout import Lockout
    from server.practice.store import PracticeStore
    from server.storage import Storage

    storage = Storage(config.records_target)
    store = PracticeStore(config.records_target)
    practice = config.practice
    accounts = Accounts(store, storage, Lockout(practice.max_login_failures, practice.lockout),
                        practice.inactivity_timeout, time.time)
    try:
        account = asyncio.run(accounts.create(args.email, args.role, password, totp_required=args.require_totp,
                                              tz=args.tz))
    except PracticeError as exc:
        return _fail(exc.message, EXIT_FAILURE)
    finally:
        store.close()
        storage.close()
    print(f"ok: {args.role} account {account['id']} created")
    return EXIT_OK


def _report_attendance(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    from server.practice.report import ReportError, attendance_report

    try:
        sys.stdout.write(attendance_report(config, args.group, getattr(args, "from"), args.to, args.tz, args.format))
    except ReportError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    return EXIT_OK


def installed_version() -> str:
    """Return the version pip recorded for the installed `haven` distribution."""
    try:
        return importlib.metadata.version("haven")
    except importlib.metadata.PackageNotFoundError:
        # Running from a source tree that was never installed: there is no recorded version to report.
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="haven", description="Self-hosted video rooms for small-group therapy.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument(
        "--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG, else built-in defaults)"
    )
    serve.add_argument("--dev", action="store_true", help="development mode")
    serve.add_argument("--workers", metavar="N", help="run N node processes (auto: one per core); needs "
                       "nodes.redis_url (docs/scaling.md)")
    serve.set_defaults(handler=_serve)

    nodes = commands.add_parser("nodes", help="list the nodes sharing the rooms, with their load")
    nodes.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    nodes.add_argument("--json", action="store_true", help="print JSON")
    nodes.set_defaults(handler=_nodes)
    node = commands.add_parser("node", help="act on one node")
    node_commands = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    drain = node_commands.add_parser("drain", help="take no new rooms; let this node's rooms finish")
    drain.add_argument("node", help="the node's id, as `haven nodes` lists it")
    drain.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    drain.set_defaults(handler=_node_drain)

    token = commands.add_parser("token", help="print a join link for one person")
    token.add_argument("--room", required=True)
    token.add_argument("--name", required=True, help="display name shown to the others")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--ttl", help="lifetime such as 90m or 2h (default: auth.default_ttl)")
    token.add_argument("--sub", help="stable participant id (default: random)")
    token.add_argument("--starts-at", metavar="TIME",
                       help="scheduled start shown in the waiting room (ISO 8601, e.g. 2026-12-01T18:00+01:00)")
    token.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    token.set_defaults(handler=_token)

    audit = commands.add_parser("audit", help="work with the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", help="check that the audit log's hash chain is intact (exit 1) and no records were lost (exit 3)")
    verify.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    verify.add_argument("--anchor", metavar="FILE",
                        help="an anchor (from `haven audit anchor` or records.anchor_file) the log must still hold")
    verify.set_defaults(handler=_audit_verify)
    anchor = audit_commands.add_parser(
        "anchor", help="print the audit chain's current head, signed, to keep outside the server")
    anchor.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    anchor.add_argument("--output", metavar="FILE", help="write the anchor to FILE instead of printing it")
    anchor.set_defaults(handler=_audit_anchor)

    backup = commands.add_parser("backup", help="copy the records consistently, while the server runs")
    backup.add_argument("file", nargs="?", metavar="FILE", help="a new file to write the backup into")
    backup.add_argument("--with-key", action="store_true",
                        help="also write the records key beside it, as FILE.key (0600)")
    backup.add_argument("--to", metavar="DIR",
                        help="instead: a new directory for the database and the generated auth secret")
    backup.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    backup.set_defaults(handler=_backup)

    report = commands.add_parser("report", help="print a program's records")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    attendance = report_commands.add_parser(
        "attendance", help="a group's attendance and weekly hours (the dashboard's History) to standard output")
    attendance.add_argument("--group", required=True, metavar="ID", help="the group's id (g-…)")
    attendance.add_argument("--from", metavar="YYYY-MM-DD", help="first day (default: this week's Monday)")
    attendance.add_argument("--to", metavar="YYYY-MM-DD", help="last day, included (default: six days on)")
    attendance.add_argument("--tz", metavar="ZONE", help="time zone of days and weeks (default: the group's)")
    attendance.add_argument("--format", choices=("csv", "json", "html"), default="csv")
    attendance.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    attendance.set_defaults(handler=_report_attendance)

    restore = commands.add_parser(
        "restore", help="replace the records with a backup, once checked (the server must be stopped)")
    restore.add_argument("file", metavar="FILE", help="a file written by `haven backup FILE`")
    restore.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    restore.set_defaults(handler=_restore)

    records = commands.add_parser("records", help="operate on the records")
    records_commands = records.add_subparsers(dest="records_command", required=True, metavar="ACTION")
    rotate = records_commands.add_parser(
        "rotate-key", help="re-seal every sealed value with a new records key (the server must be stopped)")
    rotate.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    rotate.set_defaults(handler=_rotate_key)
    purge = records_commands.add_parser("purge", help="delete the records older than records.retention now")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    purge.set_defaults(handler=_purge)

    admin = commands.add_parser("admin", help="manage dashboard accounts")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create_user = admin_commands.add_parser(
        "create-user", help="create an account; the password is prompted for, or read from standard input")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--role", required=True, choices=("admin", "clinician"))
    create_user.add_argument("--require-totp", action="store_true", help="require two-factor codes at login")
    create_user.add_argument("--tz", default="UTC", help="the account's time zone, e.g. America/Chicago")
    create_user.add_argument("--config", metavar="FILE", help="TOML config file (default: $HAVEN_CONFIG)")
    create_user.set_defaults(handler=_create_user)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `haven` subcommand and return its exit status."""
    args = _parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
