"""`GET /api/v1/audit`: the audit log for administrators, filtered and paged, with the chain's state.

The filters and shapes are server/audit_view.py; the reads run on the records' reader thread
(Storage.read_audit, Storage.check_chain), never on the event loop. Every read is itself audited
(`audit-read`), with its filters (ids and dates) but never what it returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.audit_view import QueryError, entries_csv, page, page_sql, parse_query
from server.storage import ChainCheck, Storage

from .api import NO_STORE, PracticeApi
from .errors import PracticeError

# The anchor's state for the viewer (server/anchor.py): None until an anchor was written.
AnchorStatus = Callable[[], Awaitable[dict[str, Any] | None]]


async def no_anchor() -> dict[str, Any] | None:
    """No anchor is configured or written yet."""
    return None


def chain_json(check: ChainCheck) -> dict[str, Any]:
    """The chain's verification as the viewer shows it."""
    return {"ok": check.ok, "complete": check.complete, "entries": check.entries,
            "first_bad_seq": check.first_bad_seq, "problem": check.problem or None,
            "gaps": list(check.gaps), "lost": check.lost}


class AuditApi:
    """The audit viewer's route."""

    def __init__(self, api: PracticeApi, storage: Storage, anchor: AnchorStatus = no_anchor) -> None:
        self.api = api
        self.storage = storage
        self.anchor = anchor

    async def read(self, request: web.Request) -> web.Response:
        caller = await self.api.caller(request)
        if not caller.is_admin:
            raise PracticeError(403, "not-permitted", "only administrators read the audit log")
        try:
            query = parse_query(request.query)
        except QueryError as error:
            raise PracticeError(400, "bad-request", error.message, field=error.field) from None
        members: list[str] = []
        if query.group is not None:
            store = self.api.accounts.store
            members = [m["id"] for m in await store.call(store.db.members_of, query.group)]
        await self.storage.committed()  # what was recorded before this request is in what it shows
        sql, params = page_sql(query, members, self.storage.dialect)
        entries, next_before = page(await self.storage.read_audit(sql, params), query.limit)
        check = await self.storage.check_chain()
        anchor = await self.anchor()
        account = caller.account
        self.storage.audit("audit-read", actor=account["id"], role=account["role"],
                           detail={**query.described(), "entries": len(entries)})
        if query.format == "csv":
            return web.Response(text=entries_csv(entries), content_type="text/csv", charset="utf-8",
                                headers={**NO_STORE, "Content-Disposition": 'attachment; filename="haven-audit.csv"'})
        return web.json_response({"entries": entries, "next_before": next_before, "chain": chain_json(check),
                                  "anchor": anchor}, headers=NO_STORE)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/audit", self.read)
