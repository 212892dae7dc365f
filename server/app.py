"""Wires Haven together: the aiohttp application, its routes, its lifetime, and ``haven serve``."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from aiohttp import web

import web_client
from media.api import Router, RouterListener, set_host_addresses
from signaling.codes import CloseCode
from signaling.connection import Connection
from signaling.errors import ProtocolError
from signaling.resume import ResumeKeys
from signaling.sessions import Sessions

from .api import add_api_routes
from .auth import TokenError, TokenIssuer, join_url
from .config import Config, resolve_secret
from .layers import connection_settings, media_settings, session_policy
from .logs import configure_logging
from .storage import Storage
from .websocket import AiohttpSocket

log = structlog.get_logger("haven.app")

CONFIG = web.AppKey("config", Config)
SESSIONS = web.AppKey("sessions", Sessions)
ISSUER = web.AppKey("issuer", TokenIssuer)
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
STORAGE = web.AppKey("storage", Storage)
STARTED = web.AppKey("started", float)

WEB_CLIENT_DIR = Path(web_client.__file__).parent
VERSION = "0.1.0"


def allowed_origins(config: Config) -> set[str]:
    """Return the browser origins allowed to open the WebSocket (the public URL's, and localhost's twin)."""
    parts = urlsplit(config.public_url)
    origins = {f"{parts.scheme}://{parts.netloc}"}
    if not config.server.public_url and parts.hostname == "127.0.0.1":
        origins.add(f"{parts.scheme}://localhost:{parts.port}")
    return origins


def create_app(config: Config, secret: bytes | None = None) -> web.Application:
    """Build the application for a validated config; no module-level state, so tests build many."""
    limits = config.limits
    # aiohttp cuts frames far over the limit itself (close 1009); those just over it get our error first.
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = config
    app[ISSUER] = TokenIssuer(secret if secret is not None else resolve_secret(config),
                              config.auth.issuer, config.auth.audience, config.auth.max_ttl)
    resume_keys = ResumeKeys(app[ISSUER].resume_key())
    set_host_addresses(list(config.ice.host_addresses))
    media = media_settings(config)
    policy = session_policy(config)
    storage = app[STORAGE] = Storage(config.database_path)

    def new_router(name: str, listener: RouterListener) -> Router:
        return Router(name, media, listener)

    app[SESSIONS] = Sessions(policy, new_router, storage)
    app[CONNECTIONS] = set()
    app[STARTED] = time.time()
    settings = connection_settings(config, policy)
    origins = allowed_origins(config)

    def verify_token(token: str, room: str | None):
        try:
            return app[ISSUER].verify(token, room=room)
        except TokenError as exc:
            storage.audit("token-refused", room=room, detail={"code": exc.code})
            raise ProtocolError(exc.code, str(exc)) from None

    async def websocket(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins:
            log.info("origin_refused")
            raise web.HTTPForbidden(text="origin not allowed")
        ws = web.WebSocketResponse(max_msg_size=limits.max_message_bytes * 4, heartbeat=None)
        await ws.prepare(request)
        connection = Connection(AiohttpSocket(ws), app[SESSIONS], settings, verify_token,
                                ledger=storage, resume=resume_keys)
        app[CONNECTIONS].add(connection)
        try:
            await connection.run()
        finally:
            app[CONNECTIONS].discard(connection)
        return ws

    async def healthz(request: web.Request) -> web.Response:
        sessions = app[SESSIONS]
        return web.json_response({
            "status": "ok",
            "version": VERSION,
            "uptime_s": round(time.time() - app[STARTED], 1),
            "rooms": len(sessions.live),
            "participants": sessions.participant_count(),
            "forwarding": "c" if media.transport.compiled_send else "python",
        })

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_CLIENT_DIR / "index.html", headers=_NO_STORE)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_get(r"/r/{room:[A-Za-z0-9][A-Za-z0-9_-]{0,63}}", index)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", WEB_CLIENT_DIR, show_index=False, follow_symlinks=False)
    add_api_routes(app, storage, app[ISSUER], config.admin.api_key)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_connections)
    app.on_cleanup.append(_close_sessions)
    return app


_NO_STORE = {"Cache-Control": "no-store"}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # The join token lives in the URL fragment: never let it leak through a Referer header.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")


async def _close_connections(app: web.Application) -> None:
    connections: set[Connection] = app[CONNECTIONS]
    for connection in list(connections):
        connection.close_soon(CloseCode.NORMAL, "server-shutdown")
    await asyncio.sleep(0.1)


async def _close_sessions(app: web.Application) -> None:
    await app[SESSIONS].close()
    app[STORAGE].close()


def _tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.server.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.server.tls_cert, config.server.tls_key)
    return context


def serve(config: Config, dev: bool = False) -> int:
    """Run the server until interrupted; in dev mode bind 127.0.0.1 and print demo join links."""
    if dev:
        from dataclasses import replace

        config = replace(config, server=replace(config.server, host="127.0.0.1"))
    configure_logging(config.logging.level, config.logging.format)
    if config.media.use_uvloop:
        import uvloop

        uvloop.install()
    os.makedirs(config.server.data_dir, mode=0o700, exist_ok=True)
    secret = resolve_secret(config)
    app = create_app(config, secret)
    if dev:
        issuer = app[ISSUER]
        ttl = config.auth.default_ttl
        host_url = join_url(config.public_url, "demo", issuer.issue("demo", "Therapist", "host", ttl))
        guest_url = join_url(config.public_url, "demo", issuer.issue("demo", "Guest", "participant", ttl))
        print("Haven is running (development mode).", file=sys.stderr)
        print(f"  Host join link:        {host_url}", file=sys.stderr)
        print(f"  Participant join link: {guest_url}", file=sys.stderr)
        print("Open each link in its own browser window. Ctrl+C stops the server.", file=sys.stderr, flush=True)
    log.info("server_starting", host=config.server.host, port=config.server.port,
             public_url=config.public_url, tls=bool(config.server.tls_cert))
    web.run_app(app, host=config.server.host, port=config.server.port, ssl_context=_tls_context(config),
                print=None, access_log=None, handle_signals=True, shutdown_timeout=5)
    return 0
