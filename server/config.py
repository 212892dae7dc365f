"""Owns Haven's configuration: the TOML file and HAVEN_* overrides, validated once into frozen dataclasses.

Also owns the token-signing secret kept on disk (`resolve_secret`), because it lives in the configured data_dir.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import secrets
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .database import Target
from .proxies import parse_networks

ENV_PREFIX = "HAVEN_"
# HAVEN_* variables that look like a [section]_key override but are not settings: the records key
# (server/cipher.py KEY_ENV) would otherwise read as an unknown key `records.key`.
NOT_SETTINGS = frozenset({"HAVEN_RECORDS_KEY"})
SECRET_FILE_NAME = "auth-secret"
MIN_SECRET_CHARS = 32

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_ENV_TRUE = {"true", "1", "yes"}
_ENV_FALSE = {"false", "0", "no"}


class ConfigError(Exception):
    """A config value that is missing, malformed or out of range, named by its dotted key."""

    def __init__(self, key: str, problem: str, variable: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.variable = variable
        where = f"{key} ({variable})" if variable else key
        super().__init__(f"{where}: {problem}")


def parse_duration(text: str) -> float:
    """Parse a duration such as "90s", "15m", "2h" or "1d" into seconds."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a number followed by s, m, h or d, "
            'like "90s", "15m", "2h" or "1d"'
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Format seconds with the largest unit that divides them exactly, the inverse of parse_duration."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def _show(value: Any) -> str:
    """Render a value the way it would be written in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


# Per-field rules live in dataclass metadata so the field list is the only list of known keys.
def _bounded(low: float, high: float) -> dict[str, Any]:
    return {"range": (low, high)}


def _duration(low: float, high: float) -> dict[str, Any]:
    return {"duration": (low, high)}


def _one_of(*choices: str) -> dict[str, Any]:
    return {"choices": choices}


def _check(check: Callable[[Any], str | None]) -> dict[str, Any]:
    return {"check": check}


_HIDDEN = {"hidden": True}


def _non_empty(value: str) -> str | None:
    return "must not be empty" if not value else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip_or_empty(value: str) -> str | None:
    if value and not _is_ip(value):
        return f"must be an IPv4 or IPv6 address (got {_show(value)})"
    return None


def _ip_list(values: tuple[str, ...]) -> str | None:
    bad = [v for v in values if not _is_ip(v)]
    if bad:
        return f"every entry must be an IPv4 or IPv6 address (got {_show(bad[0])})"
    return None


def _network_list(values: tuple[str, ...]) -> str | None:
    for value in values:
        try:
            parse_networks([value])
        except ValueError:
            return ("every entry must be an IPv4 or IPv6 address or a network such as \"10.0.0.0/8\" "
                    f"with its host bits zero (got {_show(value)})")
    return None


def _public_url(value: str) -> str | None:
    if not value:
        return None
    problem = f"must be http(s)://host[:port] with no path, query or fragment (got {_show(value)})"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return problem
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        return problem
    try:
        _ = parts.port  # raises for a port that is not a number or is out of range
    except ValueError:
        return problem
    return None


def _secret(value: str) -> str | None:
    if value and len(value) < MIN_SECRET_CHARS:
        return f"must be at least {MIN_SECRET_CHARS} characters when set (got {len(value)})"
    return None


def _prefixed(*prefixes: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value and not value.startswith(prefixes):
            wanted = " or ".join(f'"{p}"' for p in prefixes)
            return f"must start with {wanted} (got {_show(value)})"
        return None

    return check


# RFC 7065 TURN URIs, restricted to what browsers use: UDP or TCP to turn:, TLS over TCP to turns:. The port
# and transport are required so that what a client tries is written down, not guessed from defaults.
_TURN_URL = re.compile(
    r"(?P<scheme>turns?):(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r":(?P<port>\d{1,5})\?transport=(?P<transport>udp|tcp)"
)


def _turn_url_problem(url: str) -> str | None:
    expected = '"turn:host:port?transport=udp", "turn:host:port?transport=tcp" or "turns:host:port?transport=tcp"'
    match = _TURN_URL.fullmatch(url)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        return f"every entry must be {expected} (got {_show(url)})"
    if match["scheme"] == "turns" and match["transport"] != "tcp":
        return f"turns: runs TLS over TCP, so it needs ?transport=tcp (got {_show(url)})"
    host = match["host"]
    if host.startswith("[") and not (_is_ip(host[1:-1]) and ":" in host):
        return f"{host} is not an IPv6 address (got {_show(url)})"
    return None


def _turn_urls(values: tuple[str, ...]) -> str | None:
    return next((p for p in map(_turn_url_problem, values) if p), None)


@dataclass(frozen=True)
class ServerConfig:
    host: str = field(default="0.0.0.0", metadata=_check(_non_empty))
    port: int = field(default=8080, metadata=_bounded(1, 65535))
    public_url: str = field(default="", metadata=_check(_public_url))
    tls_cert: str = ""
    tls_key: str = ""
    data_dir: str = field(default="./haven-data", metadata=_check(_non_empty))
    # On SIGTERM/SIGINT: how long telling clients, closing media and flushing records may take before exit.
    drain_timeout: float = field(default=10.0, metadata=_duration(1, 300))
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (server/proxies.py).
    trusted_proxies: tuple[str, ...] = field(default=(), metadata=_check(_network_list))
    # Share server.port with other Haven processes (SO_REUSEPORT; `haven serve --workers` sets it).
    reuse_port: bool = False


@dataclass(frozen=True)
class AuthConfig:
    secret: str = field(default="", metadata=_check(_secret) | _HIDDEN)
    issuer: str = field(default="haven", metadata=_check(_non_empty))
    audience: str = field(default="haven", metadata=_check(_non_empty))
    default_ttl: float = field(default=7200.0, metadata=_duration(60, 7 * 86400))
    max_ttl: float = field(default=86400.0, metadata=_duration(60, 7 * 86400))


@dataclass(frozen=True)
class IceConfig:
    host_addresses: tuple[str, ...] = field(default=(), metadata=_check(_ip_list))
    # The one UDP port all media uses (per host address); 0: a new ephemeral port per connection.
    udp_port: int = field(default=10000, metadata=_bounded(0, 65535))
    announced_ip: str = field(default="", metadata=_check(_ip_or_empty))
    stun_server: str = field(default="", metadata=_check(_prefixed("stun:")))
    turn_server: str = field(default="", metadata=_check(_prefixed("turn:", "turns:")))
    turn_username: str = ""
    turn_password: str = field(default="", metadata=_HIDDEN)


@dataclass(frozen=True)
class TurnConfig:
    """The TURN relay offered to browsers (coturn with use-auth-secret), apart from [ice]'s server-side TURN."""

    urls: tuple[str, ...] = field(default=(), metadata=_check(_turn_urls))
    secret: str = field(default="", metadata=_check(_secret) | _HIDDEN)
    # A relayed call ends when its credential expires (coturn refuses the allocation's next refresh), so
    # this must outlast the longest session; a reconnect gets a new one.
    credential_ttl: float = field(default=43200.0, metadata=_duration(600, 7 * 86400))


@dataclass(frozen=True)
class LimitsConfig:
    max_participants_per_room: int = field(default=20, metadata=_bounded(2, 100))
    max_rooms: int = field(default=200, metadata=_bounded(1, 10000))
    max_message_bytes: int = field(default=131072, metadata=_bounded(1024, 1048576))
    messages_per_second: float = field(default=20.0, metadata=_bounded(1, 1000))
    message_burst: int = field(default=60, metadata=_bounded(1, 10000))
    heartbeat_interval: float = field(default=10.0, metadata=_duration(1, 60))
    heartbeat_timeout: float = field(default=25.0, metadata=_duration(1, 600))


@dataclass(frozen=True)
class MediaConfig:
    max_bitrate_kbps: int = field(default=2500, metadata=_bounded(100, 20000))
    use_uvloop: bool = True
    forwarding: str = field(default="auto", metadata=_one_of("auto", "c", "python"))


@dataclass(frozen=True)
class LoggingConfig:
    level: str = field(default="info", metadata=_one_of("debug", "info", "warning", "error"))
    format: str = field(default="auto", metadata=_one_of("auto", "json", "console"))


DEFAULT_CONSENT = (
    "Everything shared in this group is confidential. I will not record, photograph or share what "
    "others say or show, and I will not tell anyone outside the group who takes part. I will join from a "
    "private place where others cannot see or hear the session. I understand that the therapist may have "
    "to break confidentiality if someone is at risk of harm."
)
DEFAULT_SUPPORT = "Please wait here: your therapist will let you in. If you have trouble, contact your clinic."


@dataclass(frozen=True)
class SessionConfig:
    consent_text: str = field(default=DEFAULT_CONSENT, metadata=_check(_non_empty))
    support_text: str = DEFAULT_SUPPORT
    waiting_room: bool = True
    chat_enabled: bool = True
    private_chat: bool = False
    hands_visible: bool = False
    max_chat_chars: int = field(default=1000, metadata=_bounded(10, 10000))
    host_grace: float = field(default=600.0, metadata=_duration(10, 86400))
    members_media_without_host: bool = False
    require_emergency_info: bool = True


@dataclass(frozen=True)
class StorageConfig:
    # Where the records and the practice's data live: "sqlite" (a file, the default) or "postgresql"
    # (server/database.py), the latter at postgresql_url, a libpq conninfo or URL (it may hold a password).
    backend: str = field(default="sqlite", metadata=_one_of("sqlite", "postgresql"))
    path: str = ""
    postgresql_url: str = field(default="", metadata=_HIDDEN)
    probe_interval: float = field(default=5.0, metadata=_duration(0.1, 3600))


@dataclass(frozen=True)
class AdminConfig:
    api_key: str = field(default="", metadata=_check(_secret) | _HIDDEN)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = field(default="127.0.0.1", metadata=_check(_non_empty))
    port: int = field(default=9464, metadata=_bounded(0, 65535))  # 0: an ephemeral port (tests)
    max_loop_lag: float = field(default=0.5, metadata=_duration(0.01, 60))


def _email_or_empty(value: str) -> str | None:
    if value and not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", value):
        return f"must be an email address such as haven@clinic.example (got {_show(value)})"
    return None


@dataclass(frozen=True)
class SmtpConfig:
    """The mail server reminders go through (server/practice/reminders.py); off unless enabled."""

    enabled: bool = False
    host: str = ""
    port: int = field(default=587, metadata=_bounded(1, 65535))
    security: str = field(default="starttls", metadata=_one_of("starttls", "ssl", "none"))
    username: str = ""
    password: str = field(default="", metadata=_HIDDEN)
    password_file: str = ""
    from_address: str = field(default="", metadata=_check(_email_or_empty))
    timeout: float = field(default=30.0, metadata=_duration(1, 300))
    # PEM file of the CA that signed the mail server's certificate, when it is not in the system store.
    ca_file: str = ""


@dataclass(frozen=True)
class SetupCheckConfig:
    """"Test my setup" (server/practice/setup_check.py): its connection tests are bounded in number and time."""

    max_concurrent: int = field(default=4, metadata=_bounded(1, 100))
    time_limit: float = field(default=30.0, metadata=_duration(5, 300))
    support_contact: str = "If the test keeps failing, contact your clinic."


@dataclass(frozen=True)
class PracticeConfig:
    """Accounts, groups and personal invites (server/practice/)."""

    # From this long before an occurrence until it ends, a member's invite page offers Join.
    join_window: float = field(default=900.0, metadata=_duration(0, 86400))
    # A dashboard session unused this long is logged off (HIPAA 164.312(a)(2)(iii) automatic logoff).
    inactivity_timeout: float = field(default=900.0, metadata=_duration(60, 43200))
    # Wrong passwords or codes in a row that lock an account, and for how long.
    max_login_failures: int = field(default=5, metadata=_bounded(1, 100))
    lockout: float = field(default=900.0, metadata=_duration(60, 86400))
    # How long a join token from an invite (or a facilitator's start) may wait before its one use.
    join_token_ttl: float = field(default=300.0, metadata=_duration(30, 3600))
    # Who emails to members come from (reminders, links), as they read it.
    clinic_name: str = field(default="Haven", metadata=_check(_non_empty))


@dataclass(frozen=True)
class RecordsConfig:
    """A program's records (issue 10): attendance rules, retention, the audit anchor."""

    # Hours of group a member of an intensive outpatient program owes per week (0 turns the target off).
    weekly_hours_required: float = field(default=9.0, metadata=_bounded(0, 80))
    # A first entry later than this after the scheduled start is a late arrival; a last leave this much
    # before the scheduled end is an early leave.
    late_after: float = field(default=300.0, metadata=_duration(0, 3600))
    # Attendance, session records, moods and notes older than this are purged (a purge is audited).
    retention: float = field(default=7 * 365 * 86400.0, metadata=_duration(86400, 100 * 365 * 86400))
    # The audit log is kept at least six years (HIPAA 164.316(b)(2)); never less.
    audit_retention: float = field(default=6 * 365 * 86400.0, metadata=_duration(6 * 365 * 86400, 100 * 365 * 86400))
    # Where the signed head of the audit chain is written (empty: <data_dir>/audit-anchor.json), and how
    # often; `haven audit verify --anchor FILE` then detects a truncated tail.
    anchor_file: str = ""
    anchor_interval: float = field(default=300.0, metadata=_duration(10, 86400))


def _redis_url(value: str) -> str | None:
    if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        return f"must be a redis://, rediss:// or unix:// URL (got {_show(value)})"
    return None


def _internal_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return f"must be http(s)://host:port with no path (got {_show(value)})"
    return None


@dataclass(frozen=True)
class NodesConfig:
    """Several Haven processes ("nodes") sharing rooms through Redis (docs/scaling.md)."""

    # Where the nodes meet: empty means this process is the only node and nothing uses Redis.
    redis_url: str = field(default="", metadata=_check(_redis_url))
    # This node's name among the nodes (empty: <hostname>-<server.port>); unique per node.
    node_id: str = ""
    # Where the other nodes reach this one to relay a WebSocket for a room placed here (empty: this
    # server's own address, or 127.0.0.1 when it listens on every address).
    internal_url: str = field(default="", metadata=_check(_internal_url))
    # A second listener for those relays alone (0: none, they come to server.port). Needed when several
    # nodes share server.port (server.reuse_port), so that a relay reaches this node and not another.
    internal_port: int = field(default=0, metadata=_bounded(0, 65535))
    # Participants this node takes before new rooms go elsewhere.
    capacity: int = field(default=300, metadata=_bounded(1, 100000))
    # How long a node counts as alive after its last renewal (renewed every third of it).
    lease: float = field(default=6.0, metadata=_duration(2, 60))


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    ice: IceConfig = field(default_factory=IceConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    practice: PracticeConfig = field(default_factory=PracticeConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    setup_check: SetupCheckConfig = field(default_factory=SetupCheckConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)
    nodes: NodesConfig = field(default_factory=NodesConfig)

    @property
    def database_path(self) -> str:
        """Return the SQLite file for attendance and the audit log (default: in the data directory)."""
        return self.storage.path or os.path.join(self.server.data_dir, "haven.db")

    @property
    def records_target(self) -> Target:
        """Where the records are (storage.backend): the SQLite file, or the PostgreSQL database."""
        if self.storage.backend == "postgresql":
            return Target("postgresql", url=self.storage.postgresql_url)
        return Target("sqlite", path=self.database_path)

    @property
    def public_url(self) -> str:
        """Return the URL browsers reach us at, derived from host, port and TLS when not configured."""
        server = self.server
        if server.public_url:
            return server.public_url.rstrip("/")
        scheme = "https" if server.tls_cert else "http"
        host = server.host
        if host in ("0.0.0.0", "127.0.0.1", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{server.port}"


_SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def _fields(section: str) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(_SECTIONS[section])}


def _unknown(name: str, known: Any, noun: str = "key") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f'unknown {noun} (did you mean "{close[0]}"?)' if close else f"unknown {noun}"


def _from_env(default: Any, text: str) -> Any:
    """Turn an environment string into the field's type, leaving it a string when it does not parse."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        return True if lowered in _ENV_TRUE else False if lowered in _ENV_FALSE else text
    if isinstance(default, tuple):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    for kind in (int, float):
        if isinstance(default, kind):
            try:
                return kind(text.strip())
            except ValueError:
                return text
    return text


def _convert(f: dataclasses.Field[Any], value: Any) -> Any:
    """Return the value as the field's type, or raise ValueError with the problem."""
    meta, default = f.metadata, f.default
    # Never echo credentials: this message reaches stderr and, through the app, the logs.
    got = "(value hidden)" if meta.get("hidden") else f"(got {_show(value)})"
    if "duration" in meta:
        low, high = meta["duration"]
        problem = (
            f"must be a duration between {format_duration(low)} and {format_duration(high)}, "
            f'like "90s", "15m", "2h" or "1d" {got}'
        )
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ValueError(problem) from None
        if not low <= seconds <= high:
            raise ValueError(problem)
        return seconds
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false {got}")
        return value
    if isinstance(default, (int, float)):
        low, high = meta["range"]
        noun = "an integer" if isinstance(default, int) else "a number"
        numeric = (int,) if isinstance(default, int) else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric) or not low <= value <= high:
            raise ValueError(f"must be {noun} between {low} and {high} {got}")
        return type(default)(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of strings {got}")
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a string {got}")
    if "choices" in meta and value not in meta["choices"]:
        raise ValueError(f"must be one of {', '.join(meta['choices'])} {got}")
    return value


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(name, f"cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, f"invalid TOML: {exc}") from None


def _collect(
    path: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Merge the file and the environment into raw values per section, remembering which keys came from env."""
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    origins: dict[str, str] = {}
    for section, table in (_read_toml(path) if path is not None else {}).items():
        if section not in _SECTIONS:
            raise ConfigError(section, _unknown(section, _SECTIONS, "section"))
        if not isinstance(table, dict):
            raise ConfigError(section, f"must be a table, written [{section}]")
        known = _fields(section)
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"{section}.{key}", _unknown(key, known))
            values[section][key] = value
    for variable, text in env.items():
        rest = variable[len(ENV_PREFIX):].lower() if variable.startswith(ENV_PREFIX) else ""
        env_section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if env_section is None or variable in NOT_SETTINGS:
            continue  # other HAVEN_* variables, such as HAVEN_CONFIG, belong to the CLI
        key, known = rest[len(env_section) + 1 :], _fields(env_section)
        if key not in known:
            raise ConfigError(f"{env_section}.{key}", _unknown(key, known), variable)
        values[env_section][key] = _from_env(known[key].default, text)
        origins[f"{env_section}.{key}"] = variable
    return values, origins


def load_config(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Config:
    """Load, override from HAVEN_* variables, and validate the config, raising ConfigError on the first problem."""
    values, origins = _collect(path, os.environ if env is None else env)

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(key, problem, origins.get(key))

    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        kwargs: dict[str, Any] = {}
        for key, value in values[section].items():
            f = _fields(section)[key]
            try:
                kwargs[key] = _convert(f, value)
            except ValueError as exc:
                raise fail(f"{section}.{key}", str(exc)) from None
            problem = f.metadata["check"](kwargs[key]) if "check" in f.metadata else None
            if problem:
                raise fail(f"{section}.{key}", problem)
        sections[section] = cls(**kwargs)
    config = Config(**sections)
    _check_relations(config, fail)
    return config


def _check_relations(config: Config, fail: Callable[[str, str], ConfigError]) -> None:
    """Check the rules that span more than one key."""
    storage = config.storage
    if storage.backend == "postgresql":
        if not storage.postgresql_url.strip():
            raise fail("storage.postgresql_url", 'must be set when storage.backend is "postgresql" (a libpq '
                       'conninfo such as "host=db.internal dbname=haven user=haven" or a postgresql:// URL)')
        if storage.path:
            raise fail("storage.path", 'is the SQLite file; it cannot be set when storage.backend is "postgresql"')
        try:
            from psycopg.conninfo import conninfo_to_dict  # only for this backend: SQLite never imports it
        except ImportError:
            raise fail("storage.backend", '"postgresql" needs the psycopg driver: pip install "haven[postgresql]"'
                       ) from None
        try:
            conninfo_to_dict(storage.postgresql_url)
        except Exception:
            raise fail("storage.postgresql_url", "is not a libpq conninfo (key=value pairs) or a postgresql:// URL "
                       "(value hidden)") from None
    elif storage.postgresql_url:
        raise fail("storage.postgresql_url", 'is set but storage.backend is "sqlite" (set storage.backend = '
                   '"postgresql" to use it)')
    server, auth, ice, limits = config.server, config.auth, config.ice, config.limits
    if bool(server.tls_cert) != bool(server.tls_key):
        missing = "server.tls_key" if server.tls_cert else "server.tls_cert"
        present = "server.tls_cert" if server.tls_cert else "server.tls_key"
        raise fail(missing, f"must be set together with {present} (set both or neither)")
    for key, file_path in (("server.tls_cert", server.tls_cert), ("server.tls_key", server.tls_key)):
        if file_path and not (os.path.isfile(file_path) and os.access(file_path, os.R_OK)):
            raise fail(key, f"file does not exist or is not readable (got {_show(file_path)})")
    if auth.default_ttl > auth.max_ttl:
        raise fail(
            "auth.default_ttl",
            f"must not exceed auth.max_ttl ({format_duration(auth.default_ttl)} > {format_duration(auth.max_ttl)})",
        )
    if ice.turn_server:
        for key in ("turn_username", "turn_password"):
            if not getattr(ice, key):
                raise fail(f"ice.{key}", "must be set when ice.turn_server is set")
    elif ice.turn_username or ice.turn_password:
        key = "ice.turn_username" if ice.turn_username else "ice.turn_password"
        raise fail(key, "is set but ice.turn_server is empty")
    if ice.stun_server and ice.udp_port:
        raise fail("ice.stun_server", "works only with ice.udp_port = 0; behind NAT with one media port, set "
                   "ice.announced_ip to the public address instead")
    turn = config.turn
    if turn.urls and not turn.secret:
        raise fail("turn.secret", "must be set when turn.urls is set (the same as coturn's static-auth-secret)")
    if turn.secret and not turn.urls:
        raise fail("turn.urls", "must be set when turn.secret is set")
    metrics = config.metrics
    if metrics.enabled and metrics.port and metrics.port == server.port and (
            metrics.host == server.host or "0.0.0.0" in (metrics.host, server.host)):
        raise fail("metrics.port", f"must differ from server.port ({metrics.port}): metrics have their own listener")
    smtp = config.smtp
    if smtp.enabled:
        for key in ("host", "from_address"):
            if not getattr(smtp, key):
                raise fail(f"smtp.{key}", "must be set when smtp.enabled is true")
    if smtp.password and smtp.password_file:
        raise fail("smtp.password_file", "set smtp.password or smtp.password_file, not both")
    if smtp.username and not (smtp.password or smtp.password_file):
        raise fail("smtp.password_file", "must be set (or smtp.password) when smtp.username is set")
    if (smtp.password or smtp.password_file) and not smtp.username:
        raise fail("smtp.username", "must be set when a password is set")
    if smtp.password_file and not (os.path.isfile(smtp.password_file) and os.access(smtp.password_file, os.R_OK)):
        raise fail("smtp.password_file", f"file does not exist or is not readable (got {_show(smtp.password_file)})")
    if smtp.ca_file and not (os.path.isfile(smtp.ca_file) and os.access(smtp.ca_file, os.R_OK)):
        raise fail("smtp.ca_file", f"file does not exist or is not readable (got {_show(smtp.ca_file)})")
    nodes = config.nodes
    if server.reuse_port and nodes.redis_url and not nodes.internal_port and not nodes.internal_url:
        raise fail("nodes.internal_port", "must be set when nodes share server.port (server.reuse_port): a relay "
                   "to this node would otherwise reach whichever node the kernel picks")
    if nodes.internal_port and nodes.internal_port == server.port:
        raise fail("nodes.internal_port", f"must differ from server.port ({server.port})")
    if limits.heartbeat_timeout <= limits.heartbeat_interval:
        raise fail(
            "limits.heartbeat_timeout",
            f"must be longer than limits.heartbeat_interval "
            f"({format_duration(limits.heartbeat_timeout)} <= {format_duration(limits.heartbeat_interval)})",
        )


def resolve_secret(config: Config) -> bytes:
    """Return the token-signing secret: auth.secret if set, else the one kept in data_dir, created on first use."""
    if config.auth.secret:
        return config.auth.secret.encode()
    data_dir = Path(config.server.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE_NAME
    try:
        # O_EXCL so two processes starting together cannot both write a secret and disagree.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(48) + "\n")
    return _read_secret(path)


def existing_secret(config: Config) -> bytes:
    """Return the secret the server signs with, never creating one: ConfigError when there is none yet.

    For commands run beside a server (`haven token`): a new secret made here would sign links the
    server refuses, so it is better to say where the secret was looked for.
    """
    if config.auth.secret:
        return config.auth.secret.encode()
    path = Path(config.server.data_dir) / SECRET_FILE_NAME
    if not path.exists():
        raise ConfigError("auth.secret", f"not set, and {path.resolve()} does not exist: run this with the "
                          "server's config (--config or HAVEN_CONFIG) or start the server once to create it")
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    """Read a stored secret, first taking away any group or world access to it."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            "auth.secret", f"{path} holds fewer than {MIN_SECRET_CHARS} characters; delete it to generate a new one"
        )
    return secret.encode()
