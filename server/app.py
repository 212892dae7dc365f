"""Wires Haven together: the aiohttp application, its routes, its lifetime, and ``haven serve``."""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

import web_client
from media.api import Router, RouterListener, UdpMux, host_addresses, set_host_addresses
from signaling.codes import NODE_UNAVAILABLE, SERVER_RESTARTING, CloseCode
from signaling.connection import HELLO_TIMEOUT, Connection
from signaling.errors import ProtocolError
from signaling.resume import ResumeKeys
from signaling.sessions import Sessions

from .api import add_api_routes
from .auth import TokenError, TokenIssuer, join_url
from .cipher import Keyring
from .cluster import ONCE_JOBS, RELAYED_HEADER, Cluster, OnceJobs, node_id_of, parse_hello
from .config import Config, ConfigError, resolve_secret
from .instance_lock import Busy, hold
from .layers import compiled_send, connection_settings, ice_servers, media_settings, session_policy, turn_credentials
from .logs import configure_logging
from .metrics import CONTENT_TYPE_LATEST, MediaTotals, Metrics
from .nodes import open_redis
from .practice.group_rooms import GroupRooms
from .practice.setup_check import SetupChecks, add_setup_check_routes
from .practice.store import PracticeStore
from .practice.wiring import PRACTICE_STORE, add_practice
from .proxies import Client, Network, parse_networks, resolve
from .records_key import records_keyring
from .storage import Storage
from .websocket import AiohttpSocket

log = structlog.get_logger("haven.app")

CONFIG = web.AppKey("config", Config)
SESSIONS = web.AppKey("sessions", Sessions)
ISSUER = web.AppKey("issuer", TokenIssuer)
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
STORAGE = web.AppKey("storage", Storage)
STARTED = web.AppKey("started", float)
PROBE: web.AppKey[asyncio.Task[None]] = web.AppKey("probe")
CONTENT_SECURITY_POLICY = web.AppKey("content_security_policy", str)
HSTS = web.AppKey("hsts", bool)
TRUSTED_PROXIES: web.AppKey[tuple[Network, ...]] = web.AppKey("trusted_proxies")
# The resolved client of a request (server/proxies.py), set by the first middleware.
CLIENT = web.RequestKey("client", Client)
METRICS = web.AppKey("metrics", Metrics)
METRICS_RUNNER = web.AppKey("metrics_runner", web.AppRunner)
# Where the metrics listener is bound, (host, port), once started; absent when metrics.enabled is false.
METRICS_ADDRESS: web.AppKey[tuple[str, int]] = web.AppKey("metrics_address")


@dataclass
class Drain:
    """The graceful stop (SIGTERM/SIGINT): when it started, and how long it may take in all."""

    timeout: float
    started: float | None = None
    hard_exit: bool = False  # `haven serve` only: end the process if the drain overruns (never in tests)


DRAIN = web.AppKey("drain", Drain)
IN_USE: web.AppKey[Any] = web.AppKey("in_use")  # the shared lock on the records (instance_lock.py)
UDP_MUX: web.AppKey[UdpMux | None] = web.AppKey("udp_mux")  # the shared media port (None: ice.udp_port = 0)
CLUSTER: web.AppKey[Cluster | None] = web.AppKey("cluster")  # None: this server is the only node

WEB_CLIENT_DIR = Path(web_client.__file__).parent
# What /static/ serves: the browser client's own files, never the Python package around them
# (__init__.py, __pycache__, package.json) — the same suffixes pyproject.toml ships as package data.
STATIC_SUFFIXES = (".html", ".js", ".css", ".svg")
HSTS_MAX_AGE = 31536000  # one year
PR_SET_DUMPABLE = 4
VERSION = "0.1.0"


def allowed_origins(config: Config) -> set[str]:
    """Return the browser origins allowed to open the WebSocket (the public URL's, and localhost's twin)."""
    parts = urlsplit(config.public_url)
    origins = {f"{parts.scheme}://{parts.netloc}"}
    if not config.server.public_url and parts.hostname == "127.0.0.1":
        origins.add(f"{parts.scheme}://localhost:{parts.port}")
    return origins


def content_security_policy(config: Config) -> str:
    """Return the CSP: everything from our own origin, and WebSockets only to our own public origin."""
    sockets = sorted(origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
                     for origin in allowed_origins(config))
    return (f"default-src 'self'; connect-src 'self' {' '.join(sockets)}; img-src 'self' data: blob:; "
            "media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")


def uses_https(config: Config) -> bool:
    """Whether browsers reach us over HTTPS: TLS here, or an https public URL (a TLS-terminating proxy)."""
    return bool(config.server.tls_cert) or urlsplit(config.public_url).scheme == "https"


def static_files(directory: Path = WEB_CLIENT_DIR) -> dict[str, Path]:
    """Return the client files /static/ may serve, by name: regular files of the client directory only."""
    return {path.name: path for path in sorted(directory.iterdir())
            if path.suffix in STATIC_SUFFIXES and path.is_file() and not path.is_symlink()}


def disable_core_dumps() -> None:
    """Make sure this process never writes a core dump: it would hold media, keys and tokens.

    RLIMIT_CORE 0 (soft and hard, so nothing in the process can raise it again) and, on Linux,
    PR_SET_DUMPABLE 0, which also covers core handlers such as systemd-coredump that ignore the limit.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.warning("prctl_dumpable_failed", errno=ctypes.get_errno())


def create_app(config: Config, secret: bytes | None = None, keyring: Keyring | None = None) -> web.Application:
    """Build the application for a validated config; no module-level state, so tests build many."""
    limits = config.limits
    # aiohttp cuts frames far over the limit itself (close 1009); those just over it get our error first.
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = config
    app[ISSUER] = TokenIssuer(secret if secret is not None else resolve_secret(config),
                              config.auth.issuer, config.auth.audience, config.auth.max_ttl)
    resume_keys = ResumeKeys(app[ISSUER].resume_key())
    set_host_addresses(list(config.ice.host_addresses))
    # One UDP port for all media (ice.udp_port), bound at startup; 0 keeps a port per connection.
    # With the compiled step, the shared sockets are read with recvmmsg (media/udp_transport.py).
    udp_mux = app[UDP_MUX] = (UdpMux(config.ice.udp_port, host_addresses(), batched=compiled_send(config))
                              if config.ice.udp_port else None)
    media = media_settings(config, udp_mux)
    policy = session_policy(config)
    # Before the database: a missing or malformed records key stops the start here, naming where it is read.
    if keyring is None:
        keyring = records_keyring(config.server.data_dir, create=True)
    storage = app[STORAGE] = Storage(config.records_target, keyring)

    routers = MediaTotals(udp_mux)  # every Router made, so the metrics' packet counters outlive a session

    def new_router(name: str, listener: RouterListener) -> Router:
        return routers.track(Router(name, media, listener))

    sessions = app[SESSIONS] = Sessions(policy, new_router, storage, snapshots=storage)
    metrics = app[METRICS] = Metrics(sessions, storage, routers=routers,
                                     node=node_id_of(config) if config.nodes.redis_url else None)
    app[CONNECTIONS] = set()
    app[STARTED] = time.time()
    app[CONTENT_SECURITY_POLICY] = content_security_policy(config)
    app[HSTS] = uses_https(config)
    app[TRUSTED_PROXIES] = parse_networks(config.server.trusted_proxies)
    group_rooms = GroupRooms()  # each practice group's agreement and agenda, kept current by server/practice
    storage.keeps_moods = group_rooms.keeps_moods
    settings = connection_settings(config, policy, group_rooms.for_room, group_rooms.agenda_for,
                                   group_rooms.emergency_for)
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
        client_socket = AiohttpSocket(ws)
        cluster = app[CLUSTER]
        if cluster is not None and not await _route(cluster, ws, client_socket, request, app[ISSUER]):
            return ws
        connection = Connection(client_socket, app[SESSIONS], settings, verify_token,
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
            "records_writable": storage.writable,
        })

    async def readyz(request: web.Request) -> web.Response:
        # Ready means able to take new participants: their attendance and audit records can be written,
        # and the event loop is not so late that every packet and message waits.
        if not storage.writable:
            return web.json_response({"status": "records-unavailable"}, status=503, headers=_NO_STORE)
        lag = metrics.lag.lag
        if lag > config.metrics.max_loop_lag:
            return web.json_response({"status": "event-loop-lag", "loop_lag_s": round(lag, 3),
                                      "max_loop_lag_s": config.metrics.max_loop_lag},
                                     status=503, headers=_NO_STORE)
        return web.json_response({"status": "ready"}, headers=_NO_STORE)

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_CLIENT_DIR / "index.html", headers=_NO_STORE)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", index)
    app.router.add_get(r"/r/{room:[A-Za-z0-9][A-Za-z0-9_-]{0,63}}", index)
    app.router.add_get("/ws", websocket)
    served = static_files()

    async def static(request: web.Request) -> web.FileResponse:
        path = served.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    app.router.add_get("/static/{name}", static)
    add_api_routes(app, storage, app[ISSUER], config.admin.api_key)
    jobs = app[ONCE_JOBS] = OnceJobs()
    practice = add_practice(app, config, storage, app[ISSUER], origins,
                            lambda request: client_of(request).address or "", WEB_CLIENT_DIR, group_rooms, keyring)
    minter, (_, client_servers) = turn_credentials(config), ice_servers(config)
    add_setup_check_routes(app, SetupChecks(
        new_router, max_concurrent=config.setup_check.max_concurrent, time_limit=config.setup_check.time_limit,
        support=config.setup_check.support_contact,
        # A check run from a member's invite page counts for them: the facilitator sees who has passed.
        record_result=practice.record_setup_check,
        ice_servers=lambda: client_servers + ((minter.mint(),) if minter else ()),
    ))
    app.on_response_prepare.append(_security_headers)
    app.middlewares.append(_resolve_client)

    async def watch_records(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def tell_hosts(writable: bool) -> None:
            for live in list(sessions.live.values()):
                live.ctx.events.to_hosts({"type": "records-status", "writable": writable})

        def changed(writable: bool) -> None:  # called on the storage thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(tell_hosts, writable)

        storage.on_writable_change(changed)
        app[PROBE] = asyncio.ensure_future(_probe_records(storage, config.storage.probe_interval))

    async def start_metrics(app: web.Application) -> None:
        storage.on_writable_change(metrics.records.changed)
        metrics.lag.start()
        if not config.metrics.enabled:
            return
        runner = app[METRICS_RUNNER] = web.AppRunner(_metrics_app(metrics), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, config.metrics.host, config.metrics.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        app[METRICS_ADDRESS] = (host, port)
        log.info("metrics_listening", host=host, port=port)

    async def stop_metrics(app: web.Application) -> None:
        await metrics.lag.stop()
        if METRICS_RUNNER in app:
            await app[METRICS_RUNNER].cleanup()

    async def open_media_port(app: web.Application) -> None:
        if udp_mux is None:
            return
        try:
            await udp_mux.open()
        except OSError as exc:
            raise ConfigError("ice.udp_port", exc.strerror or str(exc)) from None
        log.info("media_port_open", port=udp_mux.port, addresses=len(udp_mux.sockets))

    async def close_media_port(app: web.Application) -> None:
        if udp_mux is not None:
            udp_mux.close()  # after _close_sessions: every connection on it has closed
            await udp_mux.wait_closed()  # a restart in the same process can bind the port again

    app[CLUSTER] = _cluster(config, sessions, routers, storage, jobs, group_rooms, app[PRACTICE_STORE],
                            app[CONNECTIONS])

    async def start_node(app: web.Application) -> None:
        cluster = app[CLUSTER]
        if cluster is None:
            await jobs.start()
        else:
            await cluster.start()

    async def leave_nodes(app: web.Application) -> None:
        cluster = app[CLUSTER]
        if cluster is None:
            await jobs.stop()
            return
        # Before the sockets close: what the rooms look like now is in the database, then the rooms are
        # let go, so that the clients reconnecting after 1001 are placed on the other nodes and go on there.
        sessions.freeze()
        await asyncio.to_thread(storage.flush)
        await cluster.stop()

    app.on_startup.append(open_media_port)
    app.on_startup.append(watch_records)
    app.on_startup.append(start_metrics)
    app.on_startup.append(start_node)
    app.on_shutdown.append(leave_nodes)
    app[DRAIN] = Drain(config.server.drain_timeout)
    app.middlewares.append(_refuse_while_draining)
    app.on_shutdown.append(_close_connections)
    app.on_cleanup.append(stop_metrics)
    app.on_cleanup.append(_close_sessions)
    app.on_cleanup.append(close_media_port)
    return app


def _cluster(config: Config, sessions: Sessions, routers: MediaTotals, storage: Storage, jobs: OnceJobs,
             group_rooms: GroupRooms, practice_store: PracticeStore, connections: set[Connection]) -> Cluster | None:
    """This node's part among several (nodes.redis_url), or None when it is the only one."""
    if not config.nodes.redis_url:
        return None
    client = open_redis(config.nodes.redis_url, config.nodes.lease / 3)

    def live_rooms() -> list[str]:
        return [room for room, live in sessions.live.items() if not live.ended]

    async def close_room(room: str) -> None:
        # The room went to another node while this one had lost its lease: its clients reconnect (1001)
        # and reach it there; this node writes nothing more for it (frozen keeps the snapshot as it is).
        live = sessions.live.get(room)
        if live is None:
            return
        live.frozen = True
        for connection in list(connections):
            if connection.live is live:
                connection.close_soon(CloseCode.GOING_AWAY, SERVER_RESTARTING)

    async def prepare_room(room: str) -> None:
        # The room may have run on another node until a moment ago: its snapshot and its group's settings
        # are read from the shared database now, not from what this node read at its start.
        if room in sessions.live:
            return
        await asyncio.wrap_future(storage.reload_snapshot(room))
        group_rooms.load(await practice_store.call(practice_store.db.groups))

    def forwarded() -> int:
        return routers.read()[0]["forwarded"]

    return Cluster(config, client, live_rooms, sessions.participant_count, forwarded, close_room, jobs, prepare_room)


def _metrics_app(metrics: Metrics) -> web.Application:
    """The metrics listener's application: GET /metrics only, read at request time."""
    app = web.Application()

    async def exposition(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition(), headers=_NO_STORE)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app.router.add_get("/metrics", exposition)
    return app


_NO_STORE = {"Cache-Control": "no-store"}


def client_of(request: web.Request) -> Client:
    """Return the request's client: the TCP peer, or whom a trusted proxy says it forwards for."""
    client = request.get(CLIENT)
    if client is None:
        trusted = request.app[TRUSTED_PROXIES]
        client = request[CLIENT] = resolve(
            request.remote, request.scheme, request.headers.getall("X-Forwarded-For", []),
            request.headers.getall("X-Forwarded-Proto", []), trusted)
    return client


@web.middleware
async def _resolve_client(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Handlers see the browser's address and scheme as request.remote and request.scheme (so
    # request.secure and request.url too), never a header an untrusted peer made up.
    client = client_of(request)
    if not client.via_proxy:
        return await handler(request)
    return await handler(request.clone(remote=client.address or "", scheme=client.scheme))


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # The join token lives in the URL fragment: never let it leak through a Referer header.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", request.app[CONTENT_SECURITY_POLICY])
    # HSTS when browsers are meant to use https (public_url, TLS here) or this one did, through TLS here or
    # a trusted proxy; over plain http browsers ignore it anyway (RFC 6797 section 8.1).
    if request.app[HSTS] or client_of(request).scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}")
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")


async def _route(cluster: Cluster, ws: web.WebSocketResponse, socket: AiohttpSocket, request: web.Request,
                 issuer: TokenIssuer) -> bool:
    """Among nodes: True to serve this WebSocket here (its room is placed here), else relay it to its node.

    The first frame must be ``hello``, which names the room. Anything else, or a token that does not
    verify, is served here too, where the Connection answers it with the protocol's own error; a room is
    only ever placed for a caller whose token is valid for it.
    """
    try:
        first = await asyncio.wait_for(socket.receive(), HELLO_TIMEOUT)
    except TimeoutError:
        await ws.close(code=CloseCode.NOT_AUTHENTICATED, message=b"hello not received in time")
        return False
    if first is None:
        return False
    socket.unread(first)
    if isinstance(first, bytes) or (hello := parse_hello(first)) is None:
        return True
    room, token = hello
    try:
        issuer.verify(token, room=room)
    except TokenError:
        return True
    try:
        owner = await cluster.owner_of(room)
    except Exception as exc:  # Redis unreachable: no node may guess, or two could serve the room
        log.warning("placement_failed", error=type(exc).__name__)
        owner = None
    if owner == cluster.node_id:
        return True
    if owner is None or request.headers.get(RELAYED_HEADER):
        # No node can take it now, or it was relayed here by a node that saw an older placement:
        # the client reconnects (section 4) and is placed afresh, never relayed round in circles.
        await ws.close(code=CloseCode.TRY_AGAIN, message=NODE_UNAVAILABLE.encode())
        return False
    await cluster.relay(ws, owner, first)
    return False


@web.middleware
async def _refuse_while_draining(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Once the drain has begun nobody new is admitted: a keep-alive connection asking for a WebSocket
    # gets 503 (the listener itself is already closed), and /readyz tells a load balancer to look elsewhere.
    if request.app[DRAIN].started is not None and request.path in ("/ws", "/readyz"):
        raise web.HTTPServiceUnavailable(text=SERVER_RESTARTING, headers={"Retry-After": "5", **_NO_STORE})
    return await handler(request)


DRAIN_RESERVE = 0.25  # of drain_timeout, kept for closing media, flushing records and aiohttp's own cleanup


async def _close_connections(app: web.Application) -> None:
    """Drain: tell every client the server is restarting (1001), wait for their sockets, flush the records.

    aiohttp has closed the listening socket before this runs; media and the database are closed by
    `_close_sessions` after it. All of it fits in `server.drain_timeout`, which a watchdog enforces.
    """
    drain = app[DRAIN]
    drain.started = time.monotonic()
    if drain.hard_exit:
        _exit_after(drain.timeout)
    connections: set[Connection] = app[CONNECTIONS]
    log.info("server_draining", connections=len(connections), timeout=drain.timeout)
    app[SESSIONS].freeze()  # what is live now continues after the restart
    for connection in list(connections):
        connection.close_soon(CloseCode.GOING_AWAY, SERVER_RESTARTING)
    deadline = drain.started + drain.timeout * (1 - DRAIN_RESERVE)
    while connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if connections:
        log.warning("drain_incomplete", connections=len(connections))
    try:
        await asyncio.wait_for(asyncio.to_thread(app[STORAGE].flush), max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("records_flush_slow")


def _exit_after(timeout: float) -> None:
    """Make sure the process is gone `timeout` seconds from now, even if a step of the drain hangs."""
    def expire() -> None:
        log.error("drain_timeout_exceeded", timeout=timeout)
        os._exit(1)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()


async def _probe_records(storage: Storage, interval: float) -> None:
    """Test-write the records every `interval` seconds, so a failing disk is noticed before a record is lost
    and a recovered one is noticed at all."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.wrap_future(storage.probe())
        except Exception:
            log.exception("records_probe_failed")


async def _close_sessions(app: web.Application) -> None:
    if PROBE in app:
        app[PROBE].cancel()
    await app[SESSIONS].close()
    app[STORAGE].close()


def _tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.server.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.server.tls_cert, config.server.tls_key)
    return context


def _listeners(config: Config) -> list[socket.socket]:
    """The listening sockets: server.port (shared with other nodes when server.reuse_port), and the
    relay-only nodes.internal_port when set. A port that cannot be bound stops the start, naming its key."""
    server = config.server
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    listeners = []
    for key, port, reuse in (("server.port", server.port, server.reuse_port),
                             ("nodes.internal_port", config.nodes.internal_port, False)):
        if not port:
            continue
        try:
            listeners.append(socket.create_server((server.host, port), family=family, reuse_port=reuse, backlog=512))
        except OSError as exc:
            for listener in listeners:
                listener.close()
            raise ConfigError(key, f"cannot listen on {server.host}:{port}: {exc.strerror or exc}") from None
    return listeners


def serve(config: Config, dev: bool = False) -> int:
    """Run the server until interrupted; in dev mode bind 127.0.0.1 and print demo join links."""
    if dev:
        from dataclasses import replace

        config = replace(config, server=replace(config.server, host="127.0.0.1"))
    configure_logging(config.logging.level, config.logging.format)
    disable_core_dumps()
    if config.media.use_uvloop:
        import uvloop

        uvloop.install()
    os.makedirs(config.server.data_dir, mode=0o700, exist_ok=True)
    try:
        # Held until the process ends: `haven restore` and `haven records rotate-key` refuse while it is.
        in_use = hold(config.records_target)
    except Busy as exc:
        key = "storage.backend" if config.records_target.postgresql else "storage.path"
        raise ConfigError(key, f"a restore or key rotation is replacing these records ({exc}); "
                          "start the server when it has finished") from None
    except ConnectionError as exc:  # PostgreSQL unreachable, or the login refused
        raise ConfigError("storage.postgresql_url", str(exc)) from None
    secret = resolve_secret(config)
    app = create_app(config, secret)
    app[DRAIN].hard_exit = True
    app[IN_USE] = in_use
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
    # SIGTERM and SIGINT start the drain (aiohttp stops listening, then runs _close_connections); what
    # handlers are still running after it get the rest of the reserve before _close_sessions.
    web.run_app(app, sock=_listeners(config), ssl_context=_tls_context(config),
                print=None, access_log=None, handle_signals=True,
                shutdown_timeout=config.server.drain_timeout * DRAIN_RESERVE / 2)
    log.info("server_stopped")
    return 0
