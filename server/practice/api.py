"""The practice's HTTP side: the `/api/v1` JSON API (docs/openapi.yaml), the dashboard and the invite page.

Authentication is a web session cookie (HttpOnly, SameSite=Strict, Secure when the browser came over TLS,
as server/proxies.py resolves it) or an API key (``Authorization: Bearer hk_…``, for integrations). CSRF:
every state-changing request with the cookie must carry the session's token in ``X-CSRF-Token`` (given at
login and by ``GET /api/v1/me``), must send JSON (``Content-Type: application/json``, which a cross-site form
cannot), and, when it has an ``Origin``, must come from our own. API keys carry no ambient authority, so
they need no token. The member's invite endpoints are authorised by the invite secret in the body alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from .accounts import Accounts, Caller, public_account
from .calendar import calendar_response
from .errors import PracticeError
from .groups import Groups, public_group, public_member
from .invites import Invites, invite_url, occurrence_json
from .mailing import invite_message
from .records import FORMATS, ProgramRecords
from .records_export import attendance_csv, attendance_html
from .reminders import Clinic, Mailer

log = structlog.get_logger("haven.practice")

COOKIE = "haven_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD")
NO_STORE = {"Cache-Control": "no-store"}
API_PREFIX = "/api/v1/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: PracticeError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=NO_STORE)


@web.middleware
async def practice_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal under /api/v1 into its JSON error, and anything unexpected into a 500 that says so."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except PracticeError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(exc.status, "bad-request")
        return error_response(PracticeError(exc.status, code, exc.reason))
    except Exception as exc:
        # Only the class: a message could quote what the request carried.
        log.error("practice_request_failed", error=type(exc).__name__, path=request.match_info.route.resource
                  and request.match_info.route.resource.canonical)
        return error_response(PracticeError(500, "internal-error", "the server failed; nothing was changed"))


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise PracticeError(415, "bad-request", "send the body as JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise PracticeError(400, "bad-request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise PracticeError(400, "bad-request", "the body must be a JSON object")
    return body


class PracticeApi:
    """The routes; each handler is thin: authenticate, read the body, call the service, shape the answer."""

    def __init__(self, accounts: Accounts, groups: Groups, invites: Invites, *, origins: set[str],
                 support_text: str, client_address: Callable[[web.Request], str]) -> None:
        self.accounts = accounts
        self.groups = groups
        self.invites = invites
        self.origins = origins
        self.support_text = support_text
        self.client_address = client_address
        self.mail: tuple[Mailer | None, Clinic] | None = None  # set by wiring: the mailer ([smtp]) and sender
        self.records: ProgramRecords | None = None  # set by wiring: attendance history, session records, progress

    # -- who is asking ----------------------------------------------------------------------------

    def _check_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.origins:
            raise PracticeError(403, "csrf-failed", "this request came from another site")

    async def caller(self, request: web.Request) -> Caller:
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            return await self.accounts.by_api_key(authorization[7:].strip())
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            raise PracticeError(401, "not-logged-in", "log in first")
        if request.method not in SAFE_METHODS:
            self._check_origin(request)  # before the session is touched: a forged request renews nothing
        caller = await self.accounts.by_cookie(cookie)
        if request.method not in SAFE_METHODS:
            token = request.headers.get(CSRF_HEADER, "")
            if not caller.csrf_token or not hmac.compare_digest(token.encode(), caller.csrf_token.encode()):
                raise PracticeError(403, "csrf-failed", f"send the session's {CSRF_HEADER} header")
        return caller

    async def admin(self, request: web.Request) -> Caller:
        caller = await self.caller(request)
        if not caller.is_admin:
            raise PracticeError(403, "not-permitted", "only administrators manage accounts")
        return caller

    # -- session ----------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        self._check_origin(request)
        body = await json_body(request)
        login = await self.accounts.login(body.get("email"), body.get("password"), body.get("code"),
                                          self.client_address(request))
        response = web.json_response({"account": public_account(login.account, self.accounts.clock()),
                                      "csrf_token": login.csrf_token}, headers=NO_STORE)
        # No Max-Age: the cookie dies with the browser; the server ends it sooner after inactivity.
        response.set_cookie(COOKIE, login.cookie, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return response

    async def logout(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        await self.accounts.logout(caller)
        response = web.Response(status=204, headers=NO_STORE)
        response.del_cookie(COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        return web.json_response({"account": public_account(caller.account, self.accounts.clock()),
                                  "csrf_token": caller.csrf_token}, headers=NO_STORE)

    async def change_password(self, request: web.Request) -> web.Response:
        """The caller's own password: the current one and the new one; other web sessions end, this one stays."""
        caller = await self.caller(request)
        body = await json_body(request)
        await self.accounts.change_password(caller, body.get("current_password"), body.get("new_password"))
        return web.Response(status=204, headers=NO_STORE)

    # -- accounts (administrators) ----------------------------------------------------------------

    async def list_accounts(self, request: web.Request) -> web.Response:
        await self.admin(request)
        db = self.accounts.store.db
        rows = await self.accounts.store.call(db.accounts)
        now = self.accounts.clock()
        return web.json_response({"accounts": [public_account(a, now) for a in rows]}, headers=NO_STORE)

    async def create_account(self, request: web.Request) -> web.Response:
        caller = await self.admin(request)
        body = await json_body(request)
        totp_required = body.get("totp_required", False)
        if not isinstance(totp_required, bool):
            raise PracticeError(400, "bad-request", "totp_required must be true or false", field="totp_required")
        name = body.get("display_name", "Facilitator")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 40:
            raise PracticeError(400, "bad-request", "display_name must be 1 to 40 characters", field="display_name")
        account = await self.accounts.create(body.get("email"), body.get("role"), body.get("password"),
                                             totp_required=totp_required, tz=body.get("tz", "UTC"),
                                             display_name=name.strip(), by=caller.account["id"])
        return web.json_response(public_account(account, self.accounts.clock()), status=201, headers=NO_STORE)

    async def update_account(self, request: web.Request) -> web.Response:
        caller = await self.admin(request)
        body = await json_body(request)
        account = await self.accounts.update(caller, request.match_info["account_id"], body)
        return web.json_response(public_account(account, self.accounts.clock()), headers=NO_STORE)

    async def list_clinicians(self, request: web.Request) -> web.Response:
        """Who can facilitate a group: every enabled account, by id and shown name only (no emails)."""
        await self.caller(request)
        rows = await self.accounts.store.call(self.accounts.store.db.accounts)
        return web.json_response({"clinicians": [{"id": a["id"], "display_name": a["display_name"]}
                                                 for a in rows if not a["disabled"]]}, headers=NO_STORE)

    # -- API keys ---------------------------------------------------------------------------------

    async def list_api_keys(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        rows = await self.accounts.store.call(self.accounts.store.db.api_keys_of, caller.account["id"])
        return web.json_response({"api_keys": [_public_key(r) for r in rows]}, headers=NO_STORE)

    async def create_api_key(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        body = await json_body(request)
        row, key = await self.accounts.new_api_key(caller, body.get("label"))
        return web.json_response({"api_key": _public_key(row), "key": key}, status=201, headers=NO_STORE)

    async def revoke_api_key(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        key_id = request.match_info["key_id"]
        store = self.accounts.store
        if not await store.call(store.db.revoke_api_key, caller.account["id"], key_id):
            raise PracticeError(404, "unknown-api-key", "no such live API key of yours")
        self.accounts.audit.audit("api-key-revoked", actor=caller.account["id"], role=caller.account["role"],
                                  subject=key_id)
        return web.Response(status=204, headers=NO_STORE)

    # -- groups -----------------------------------------------------------------------------------

    def _group_json(self, group: dict[str, Any]) -> dict[str, Any]:
        return {**public_group(group), "has_schedule": group["schedule"] is not None,
                "upcoming": [occurrence_json(o, group["id"]) for o in self.invites.upcoming(group)]}

    async def list_groups(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        groups = await self.groups.visible(caller)
        return web.json_response({"groups": [self._group_json(g) for g in groups]}, headers=NO_STORE)

    async def create_group(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.create(caller, await json_body(request))
        return web.json_response(self._group_json(group), status=201, headers=NO_STORE)

    async def get_group(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.get(caller, request.match_info["group_id"])
        members = await self.groups.members(caller, group["id"])
        return web.json_response({**self._group_json(group), "members": [public_member(m) for m in members]},
                                 headers=NO_STORE)

    async def update_group(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.update(caller, request.match_info["group_id"], await json_body(request))
        return web.json_response(self._group_json(group), headers=NO_STORE)

    async def set_schedule(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.set_schedule(caller, request.match_info["group_id"], await json_body(request))
        return web.json_response(self._group_json(group), headers=NO_STORE)

    async def clear_schedule(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.set_schedule(caller, request.match_info["group_id"], None)
        return web.json_response(self._group_json(group), headers=NO_STORE)

    async def change_occurrence(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        group = await self.groups.change_occurrence(caller, request.match_info["group_id"], await json_body(request))
        return web.json_response(self._group_json(group), headers=NO_STORE)

    async def start_session(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        body = await json_body(request)
        key = body.get("occurrence")
        if key is not None and not isinstance(key, str):
            raise PracticeError(400, "bad-request", "occurrence must be an occurrence key", field="occurrence")
        group = await self.groups.get(caller, request.match_info["group_id"])
        return web.json_response(await self.invites.start(caller, group, key), headers=NO_STORE)

    # -- members ----------------------------------------------------------------------------------

    async def add_member(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        member = await self.groups.add_member(caller, request.match_info["group_id"], await json_body(request))
        url = await self.invites.issue(caller, member)
        return web.json_response({"member": public_member({**member, "has_invite": True}), "invite_url": url},
                                 status=201, headers=NO_STORE)

    async def update_member(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        info = request.match_info
        member = await self.groups.update_member(caller, info["group_id"], info["member_id"], await json_body(request))
        members = await self.groups.members(caller, info["group_id"])
        shown = next((m for m in members if m["id"] == member["id"]), member)
        return web.json_response(public_member(shown), headers=NO_STORE)

    async def new_invite(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        member = await self.groups.member(caller, request.match_info["group_id"], request.match_info["member_id"])
        return web.json_response({"invite_url": await self.invites.issue(caller, member)}, status=201,
                                 headers=NO_STORE)

    async def show_invite(self, request: web.Request) -> web.Response:
        """The member's live link again, to copy (it is derived, not stored)."""
        caller = await self.caller(request)
        member = await self.groups.member(caller, request.match_info["group_id"], request.match_info["member_id"])
        url = await self.invites.link(member)
        if url is None:
            raise PracticeError(404, "no-invite", "this member has no live link: make a new one")
        return web.json_response({"invite_url": url}, headers=NO_STORE)

    async def send_invite(self, request: web.Request) -> web.Response:
        """Email the member their live link (the dashboard's "Send link")."""
        caller = await self.caller(request)
        group = await self.groups.get(caller, request.match_info["group_id"])
        member = await self.groups.member(caller, group["id"], request.match_info["member_id"])
        mailer, clinic = self.mail or (None, None)
        if mailer is None or clinic is None:
            raise PracticeError(409, "email-disabled", "email is not set up on this server ([smtp] in the config)")
        if not member["email"]:
            raise PracticeError(409, "no-email", "this member has no email address")
        url = await self.invites.link(member)
        if url is None:
            raise PracticeError(404, "no-invite", "this member has no live link: make a new one")
        if not await mailer.send(invite_message(member, group, url, clinic)):
            raise PracticeError(502, "email-failed", "the mail server did not take the message; try again later")
        self.accounts.audit.audit("invite-sent", actor=caller.account["id"], role=caller.account["role"],
                                  subject=member["id"], detail={"group": group["id"]})
        return web.Response(status=204, headers=NO_STORE)

    async def revoke_invite(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        member = await self.groups.member(caller, request.match_info["group_id"], request.match_info["member_id"])
        await self.invites.revoke(caller, member)
        return web.Response(status=204, headers=NO_STORE)

    # -- the member's invite ----------------------------------------------------------------------

    async def invite_page(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        member, group = await self.invites.holder(body.get("secret"))
        return web.json_response(self.invites.page(member, group, self.support_text, body["secret"]),
                                 headers=NO_STORE)

    async def invite_calendar(self, request: web.Request) -> web.Response:
        """The member's .ics, to download from their page; its join link is their invite."""
        body = await json_body(request)
        member, group = await self.invites.holder(body.get("secret"))
        ics = self.invites.calendar(member, group, invite_url(self.invites.public_url, body["secret"]),
                                    self.support_text)
        return calendar_response(ics, download_name="haven-sessions.ics")

    async def calendar_feed(self, request: web.Request) -> web.StreamResponse:
        """The member's private feed for calendar apps to subscribe to (GET, the address its only key).

        Its events link to the invite page without the invite's secret: a feed address seen in a log must
        not open the member's page.
        """
        try:
            member, group = await self.invites.feed_holder(request.match_info["feed"])
            ics = self.invites.calendar(member, group, f"{self.invites.public_url}/invite",
                                        "Join from the personal invite link your therapist sent you. "
                                        + self.support_text)
        except PracticeError as error:
            return error_response(error)
        return calendar_response(ics, request=request)

    async def invite_join(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        return web.json_response(await self.invites.join(body.get("secret")), headers=NO_STORE)

    # -- records (issue 10) -----------------------------------------------------------------------

    def _records(self) -> ProgramRecords:
        assert self.records is not None, "wiring sets the records"
        return self.records

    async def attendance(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        query = dict(request.query)
        fmt = query.get("format", "json")
        if fmt not in FORMATS:
            raise PracticeError(400, "bad-request", f"format must be one of {', '.join(FORMATS)}", field="format")
        found = await self._records().attendance(caller, request.match_info["group_id"], query)
        name = f"attendance-{found['group']['id']}-{found['from']}-{found['to']}"
        if fmt == "csv":
            return web.Response(text=attendance_csv(found), content_type="text/csv", headers={
                **NO_STORE, "Content-Disposition": f'attachment; filename="{name}.csv"'})
        if fmt == "html":
            clinic = self.mail[1].name if self.mail else "Haven"
            return web.Response(text=attendance_html(found, clinic), content_type="text/html", headers={
                **NO_STORE, "Content-Disposition": f'inline; filename="{name}.html"',
                # A printable page: nothing runs, nothing loads from elsewhere.
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
        return web.json_response({k: v for k, v in found.items() if not k.startswith("_")}, headers=NO_STORE)

    async def excuse(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        answer = await self._records().excuse(caller, request.match_info["group_id"], await json_body(request))
        return web.json_response(answer, headers=NO_STORE)

    async def unexcuse(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        await self._records().unexcuse(caller, request.match_info["group_id"], await json_body(request))
        return web.Response(status=204, headers=NO_STORE)

    async def session_record(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        info = request.match_info
        return web.json_response(await self._records().session_record(caller, info["group_id"], info["session_id"]),
                                 headers=NO_STORE)

    async def session_note(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        info = request.match_info
        note = await self._records().set_note(caller, info["group_id"], info["session_id"], await json_body(request))
        return web.json_response({"note": note}, headers=NO_STORE)

    async def progress(self, request: web.Request) -> web.Response:
        caller = await self.caller(request)
        info = request.match_info
        return web.json_response(await self._records().progress(caller, info["group_id"], info["member_id"],
                                                                 dict(request.query)), headers=NO_STORE)

    async def record_setup_check(self, invite: str | None, result: dict[str, Any]) -> None:
        """setup_check.RecordResult: a check run from a member's invite page counts for that member."""
        if invite is not None:
            await self.invites.setup_checked(invite, bool(result.get("passed")))

    def add_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_post("/api/v1/login", self.login)
        router.add_post("/api/v1/logout", self.logout)
        router.add_get("/api/v1/me", self.me)
        router.add_post("/api/v1/me/password", self.change_password)
        router.add_get("/api/v1/accounts", self.list_accounts)
        router.add_post("/api/v1/accounts", self.create_account)
        router.add_patch(r"/api/v1/accounts/{account_id:a-[0-9a-f]{16}}", self.update_account)
        router.add_get("/api/v1/clinicians", self.list_clinicians)
        router.add_get("/api/v1/api-keys", self.list_api_keys)
        router.add_post("/api/v1/api-keys", self.create_api_key)
        router.add_delete(r"/api/v1/api-keys/{key_id:k-[0-9a-f]{16}}", self.revoke_api_key)
        group = r"/api/v1/groups/{group_id:g-[0-9a-f]{16}}"
        member = group + r"/members/{member_id:m-[0-9a-f]{16}}"
        router.add_get("/api/v1/groups", self.list_groups)
        router.add_post("/api/v1/groups", self.create_group)
        router.add_get(group, self.get_group)
        session = group + r"/sessions/{session_id:s-[0-9a-f]{12}}"
        router.add_get(group + "/attendance", self.attendance)
        router.add_put(group + "/excusals", self.excuse)
        router.add_delete(group + "/excusals", self.unexcuse)
        router.add_get(session, self.session_record)
        router.add_put(session + "/note", self.session_note)
        router.add_get(member + "/progress", self.progress)
        router.add_patch(group, self.update_group)
        router.add_post(group + "/start", self.start_session)
        router.add_put(group + "/schedule", self.set_schedule)
        router.add_delete(group + "/schedule", self.clear_schedule)
        router.add_post(group + "/occurrences", self.change_occurrence)
        router.add_post(group + "/members", self.add_member)
        router.add_patch(member, self.update_member)
        router.add_post(member + "/invite", self.new_invite)
        router.add_delete(member + "/invite", self.revoke_invite)
        router.add_get(member + "/invite", self.show_invite)
        router.add_post(member + "/invite/send", self.send_invite)
        router.add_post("/api/v1/invite", self.invite_page)
        router.add_post("/api/v1/invite/join", self.invite_join)
        router.add_post("/api/v1/invite/calendar", self.invite_calendar)
        router.add_get(r"/calendar/{feed:[0-9a-f]{64}}.ics", self.calendar_feed)


def _public_key(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "label": row["label"], "created_at": row["created_at"],
            "revoked": row["revoked_at"] is not None}

