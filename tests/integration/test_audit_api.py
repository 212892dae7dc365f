"""`GET /api/v1/audit` through a real server: administrators only, filters, paging, CSV, the read audited,
bad input refused as JSON errors, every response validated against docs/openapi.yaml."""

from __future__ import annotations

import asyncio

import pytest

from server.anchor import parse
from server.app import STORAGE
from server.practice.wiring import ANCHOR, PRACTICE_API
from tests.support.backends import BACKENDS, config_for
from tests.support.practice_api import ApiClient

PASSWORD = "a long admin password"


@pytest.fixture(params=BACKENDS)
async def haven(request, haven_factory):
    """Haven with its records on each backend: the audit viewer runs the same queries on SQLite and PostgreSQL."""
    return await haven_factory(config_for(request.param, request))


@pytest.fixture
async def admin(haven):
    api = haven.app[PRACTICE_API]
    await api.accounts.create("admin@clinic.example", "admin", PASSWORD)
    await api.accounts.create("sam@clinic.example", "clinician", "a clinician password")
    client = ApiClient(haven.base_url)
    status, _ = await client.call("POST", "/api/v1/login", {"email": "admin@clinic.example", "password": PASSWORD})
    assert status == 200
    yield haven, client
    await client.close()


async def test_admins_read_filter_page_and_export_the_audit_log(admin) -> None:
    haven, client = admin
    status, group = await client.call("POST", "/api/v1/groups", {"name": "Evening", "kind": "process", "tz": "UTC"})
    assert status == 201
    status, added = await client.call("POST", f"/api/v1/groups/{group['id']}/members", {"display_name": "Robin"})
    assert status == 201
    storage = haven.app[STORAGE]
    storage.audit("admit", actor="h-1", room=f"{group['id']}-2026-12-03", subject="=HYPERLINK(\"x\")")
    storage.audit("admit", actor="h-2", room="elsewhere")

    status, body = await client.call("GET", f"/api/v1/audit?group={group['id']}")
    assert status == 200 and body["chain"]["ok"] and body["anchor"] is None
    actions = [e["action"] for e in body["entries"]]
    assert "group-created" in actions and "member-added" in actions and actions[0] == "admit"
    assert all(e["room"] != "elsewhere" for e in body["entries"])

    status, first = await client.call("GET", "/api/v1/audit?action=admit&limit=1")
    assert status == 200 and len(first["entries"]) == 1 and first["next_before"] is not None
    status, second = await client.call("GET", f"/api/v1/audit?action=admit&limit=1&before={first['next_before']}")
    assert second["entries"][0]["seq"] < first["entries"][0]["seq"]

    status, _ = await client.call("GET", "/api/v1/audit?format=csv&action=admit")
    async with client.session.get(f"{haven.base_url}/api/v1/audit?format=csv&action=admit") as response:
        assert response.status == 200 and response.content_type == "text/csv"
        text = await response.text()
    assert "'=HYPERLINK" in text

    await asyncio.to_thread(storage.flush)
    reads = [e for e in storage.audit_entries() if e["action"] == "audit-read"]
    assert len(reads) >= 4 and all(r["actor"] == body["entries"][0]["actor"] or r["role"] == "admin" for r in reads)

    # The server's anchor (written every records.anchor_interval; here at once): the viewer says it holds.
    anchor = await haven.app[ANCHOR].write_once()
    assert anchor is not None and parse(haven.app[ANCHOR].path.read_text()) == anchor
    status, body = await client.call("GET", "/api/v1/audit?limit=1")
    assert status == 200 and body["anchor"] == {"seq": anchor.seq, "hash": anchor.hash, "at": anchor.written_at(),
                                                "matches": True}


async def test_clinicians_are_refused_and_bad_filters_are_json_errors(admin) -> None:
    haven, client = admin
    for query, field in (("limit=0", "limit"), ("from=2026-02-30", "from"), ("group=x", "group"),
                         ("before=abc", "before"), ("format=pdf", "format")):
        status, body = await client.call("GET", f"/api/v1/audit?{query}")
        assert (status, body["error"], body["field"]) == (400, "bad-request", field)
    sam = ApiClient(haven.base_url)
    try:
        status, _ = await sam.call("POST", "/api/v1/login", {"email": "sam@clinic.example",
                                                             "password": "a clinician password"})
        assert status == 200
        status, body = await sam.call("GET", "/api/v1/audit")
        assert (status, body["error"]) == (403, "not-permitted")
    finally:
        await sam.close()
