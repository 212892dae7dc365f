"""The HTTP API: attendance exports for hosts and administrators, and resource counts for administrators."""

from __future__ import annotations

import hmac

from aiohttp import web

from .auth import TokenError, TokenIssuer
from .resources import resource_counts
from .storage import Storage, attendance_csv


def _error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(text=f'{{"error": "{code}", "message": "{message}"}}', content_type="application/json")


def add_api_routes(app: web.Application, storage: Storage, issuer: TokenIssuer, admin_key: str) -> None:
    """Register /api routes on the application."""

    async def attendance(request: web.Request) -> web.StreamResponse:
        session_id = request.match_info["session_id"]
        credential = request.headers.get("Authorization", "")
        if not credential.startswith("Bearer ") or not credential[7:].strip():
            raise _error(web.HTTPUnauthorized, "unauthorized", "send Authorization: Bearer <host token or admin key>")
        credential = credential[7:].strip()
        is_admin = bool(admin_key) and hmac.compare_digest(credential.encode(), admin_key.encode())
        grant = None
        if not is_admin:
            try:
                grant = issuer.verify(credential)
            except TokenError as exc:
                storage.audit("api-refused", detail={"code": exc.code})
                raise _error(web.HTTPUnauthorized, exc.code, "the token was refused") from None
            if grant.role != "host":
                storage.audit("api-refused", actor=grant.sub, role=grant.role, detail={"code": "not-permitted"})
                raise _error(web.HTTPForbidden, "not-permitted", "only hosts can read attendance")
        report = await storage.attendance_report(session_id)
        if report is None or (grant is not None and report["session"]["room"] != grant.room):
            raise _error(web.HTTPNotFound, "unknown-session", "no such session for this token")
        storage.audit("attendance-export", actor=grant.sub if grant else "admin", role=grant.role if grant else "admin",
                      room=report["session"]["room"], session_id=session_id)
        if request.query.get("format") == "csv":
            return web.Response(text=attendance_csv(report), content_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="attendance-{session_id}.csv"',
                "Cache-Control": "no-store"})
        return web.json_response(report, headers={"Cache-Control": "no-store"})

    async def resources(request: web.Request) -> web.Response:
        credential = request.headers.get("Authorization", "")
        if not admin_key or not hmac.compare_digest(credential.encode(), f"Bearer {admin_key}".encode()):
            raise _error(web.HTTPUnauthorized, "unauthorized", "send Authorization: Bearer <admin key>")
        return web.json_response(resource_counts(), headers={"Cache-Control": "no-store"})

    app.router.add_get(r"/api/sessions/{session_id:s-[0-9a-f]{12}}/attendance", attendance)
    app.router.add_get("/api/debug/resources", resources)
