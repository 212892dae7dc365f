"""Builds the practice into the application: its store, services and routes, and the pages it serves."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from server.anchor import AnchorError, AnchorWriter, anchor_path, load_key
from server.auth import TokenIssuer
from server.cipher import CipherError, Keyring
from server.cluster import ONCE_JOBS
from server.config import Config, ConfigError
from server.periodic import Periodic
from server.records_key import wrong_key
from server.retention import DAY, cutoff_for, purge
from server.storage import Storage

from .accounts import Accounts
from .api import PracticeApi, practice_errors
from .audit_api import AuditApi
from .group_rooms import GroupRooms
from .groups import Groups, group_occurrences
from .invites import Invites
from .lockout import Lockout
from .mailing import ReminderRecipients, SqliteSentStore
from .records import ProgramRecords, Rules
from .reminders import Clinic, Mailer, ReminderLoop
from .store import PracticeStore

PRACTICE_STORE = web.AppKey("practice_store", PracticeStore)
PRACTICE_API = web.AppKey("practice_api", PracticeApi)
AUDIT_API = web.AppKey("audit_api", AuditApi)
ANCHOR = web.AppKey("anchor", AnchorWriter)
REMINDERS = web.AppKey("reminders", ReminderLoop)  # only when [smtp] is enabled
NO_STORE = {"Cache-Control": "no-store"}


def _anchor_writer(config: Config, storage: Storage, clock: Callable[[], float]) -> AnchorWriter:
    """The writer of the audit chain's signed head (server/anchor.py); its key is made on first start."""
    try:
        key = load_key(config.server.data_dir, create=True)
    except AnchorError as exc:
        raise ConfigError("records.anchor_file", f"the anchor's signing key cannot be used: {exc}") from None
    assert key is not None  # made when missing
    return AnchorWriter(anchor_path(config.server.data_dir, config.records.anchor_file), key,
                        storage.read_chain_head, storage.read_entry_hash, storage.audit,
                        storage.committed, config.records.anchor_interval, clock)


def add_practice(app: web.Application, config: Config, storage: Storage, issuer: TokenIssuer, origins: set[str],
                 client_address: Callable[[web.Request], str], pages: Path, group_rooms: GroupRooms,
                 keyring: Keyring, clock: Callable[[], float] = time.time) -> PracticeApi:
    """Register the practice's routes on ``app`` and close its store at cleanup.

    The store holds ``keyring`` (``app[PRACTICE_STORE].keyring``) for every part that seals or opens records;
    ConfigError when the key does not open the sealed values already stored.
    """
    practice = config.practice
    # Once per cluster, not per node (server/cluster.py): started with the server, or by the leading node.
    jobs = app[ONCE_JOBS]
    try:
        store = app[PRACTICE_STORE] = PracticeStore(config.records_target, keyring)
    except CipherError as exc:
        raise wrong_key(config.server.data_dir, exc) from None
    accounts = Accounts(store, storage, Lockout(practice.max_login_failures, practice.lockout),
                        practice.inactivity_timeout, clock)
    group_rooms.load(store.run(store.db.groups))
    groups = Groups(store, storage, config.session.consent_text, group_rooms,
                    default_emergency_info=config.session.require_emergency_info)
    invites = Invites(store, storage, issuer, group_occurrences, public_url=config.public_url,
                      join_window=practice.join_window, token_ttl=practice.join_token_ttl,
                      max_ttl=config.auth.max_ttl, clock=clock)
    api = app[PRACTICE_API] = PracticeApi(accounts, groups, invites, origins=origins,
                                          support_text=config.session.support_text, client_address=client_address)
    clinic = Clinic(practice.clinic_name, config.smtp.from_address, config.setup_check.support_contact)
    mailer = Mailer(config.smtp) if config.smtp.enabled else None
    api.mail = (mailer, clinic)
    api.records = ProgramRecords(store, groups, storage.keyring, storage,
                                 Rules(config.records.late_after, config.records.weekly_hours_required), clock)
    api.add_routes(app)
    anchor = app[ANCHOR] = _anchor_writer(config, storage, clock)
    app[AUDIT_API] = AuditApi(api, storage, anchor.status)
    app[AUDIT_API].add_routes(app)
    if mailer is not None:
        reminders = app[REMINDERS] = ReminderLoop(
            ReminderRecipients(store, issuer.invite_key(), config.public_url), SqliteSentStore(store), mailer.send,
            clinic)

        async def start_reminders() -> None:
            reminders.start()

        jobs.add(start_reminders, reminders.stop)
    # The daily retention purge (server/retention.py), on the practice's thread; audited when it deletes.
    async def purge_once() -> None:
        counts = await store.call(lambda: purge(store.db.db, cutoff_for(config.records.retention, clock())))
        if any(counts.values()):
            storage.audit("records-purged", role="server", detail=counts)
        await storage.purge_audit_async(cutoff_for(config.records.audit_retention, clock()))  # audits itself

    retention = Periodic(purge_once, DAY, "retention_purge_failed")

    async def start_retention() -> None:
        retention.start()

    jobs.add(start_retention, retention.stop)
    jobs.add(anchor.start, anchor.stop)
    app.middlewares.append(practice_errors)

    def page(name: str) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.FileResponse:
            return web.FileResponse(pages / name, headers=NO_STORE)
        return serve

    app.router.add_get("/dashboard", page("dashboard.html"))
    app.router.add_get("/invite", page("invite.html"))

    async def close_store(app: web.Application) -> None:
        store.close()

    app.on_cleanup.append(close_store)
    return api
