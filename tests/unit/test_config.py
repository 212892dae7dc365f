"""Tests for server.config: every refusal names its key, env overrides, the example file, the stored secret."""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from pathlib import Path

import pytest

from server.config import Config, ConfigError, load_config, parse_duration, resolve_secret

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "haven.toml"
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), env=env or {})


def refusal(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return info.value


def test_no_file_gives_defaults() -> None:
    assert load_config(None, env={}) == Config()


def test_example_file_equals_defaults() -> None:
    assert load_config(REPO / "config.example.toml", env={}) == Config()


def test_example_file_shows_every_key_of_every_section() -> None:
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    for section in dataclasses.fields(Config):
        keys = {f.name for f in dataclasses.fields(section.default_factory())}  # type: ignore[misc]
        assert set(example[section.name]) == keys, section.name


def test_file_values_are_loaded_and_durations_become_seconds(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """
        [server]
        port = 9000
        [ice]
        host_addresses = ["127.0.0.1", "::1"]
        [limits]
        heartbeat_interval = "5s"
        heartbeat_timeout = "1m"
        messages_per_second = 7
        [auth]
        default_ttl = "90m"
        """,
    )
    assert config.server.port == 9000
    assert config.ice.host_addresses == ("127.0.0.1", "::1")
    assert config.limits.heartbeat_interval == 5.0
    assert config.limits.heartbeat_timeout == 60.0
    assert config.limits.messages_per_second == 7.0
    assert config.auth.default_ttl == 5400.0


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Config().server.port = 1  # type: ignore[misc]


def test_invalid_toml_names_the_file_and_parser_message(tmp_path: Path) -> None:
    error = refusal(tmp_path, "[server\nport = 1\n")
    assert error.key == str(tmp_path / "haven.toml")
    assert "invalid TOML" in str(error)
    assert "line 1" in str(error)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml", env={})
    assert info.value.key == str(tmp_path / "absent.toml")
    assert "cannot read" in str(info.value)


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "[sever]\nport = 1\n")
    assert error.key == "sever"
    assert str(error) == 'sever: unknown section (did you mean "server"?)'


def test_unknown_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    error = refusal(tmp_path, "[server]\nprot = 9000\n")
    assert error.key == "server.prot"
    assert str(error) == 'server.prot: unknown key (did you mean "port"?)'


def test_top_level_key_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "port = 9000\n").key == "port"


def test_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "server = 1\n")
    assert error.key == "server"
    assert "must be a table" in str(error)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[server]\nport = "abc"', "server.port", 'server.port: must be an integer between 1 and 65535 (got "abc")'),
        ("[server]\nport = true", "server.port", "server.port: must be an integer between 1 and 65535 (got true)"),
        ("[server]\nport = 80.5", "server.port", "server.port: must be an integer between 1 and 65535 (got 80.5)"),
        ("[server]\nhost = 1", "server.host", "server.host: must be a string (got 1)"),
        ('[media]\nuse_uvloop = "yes"', "media.use_uvloop", 'media.use_uvloop: must be true or false (got "yes")'),
        (
            '[ice]\nhost_addresses = "127.0.0.1"',
            "ice.host_addresses",
            'ice.host_addresses: must be a list of strings (got "127.0.0.1")',
        ),
        ('[limits]\nmessages_per_second = "fast"', "limits.messages_per_second", None),
        (
            '[logging]\nlevel = "verbose"',
            "logging.level",
            'logging.level: must be one of debug, info, warning, error (got "verbose")',
        ),
        ('[logging]\nformat = "xml"', "logging.format", None),
    ],
)
def test_wrong_type_is_refused(tmp_path: Path, text: str, key: str, message: str | None) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    if message is not None:
        assert str(error) == message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 0", "server.port"),
        ("[server]\nport = 65536", "server.port"),
        ("[limits]\nmax_participants_per_room = 1", "limits.max_participants_per_room"),
        ("[limits]\nmax_participants_per_room = 101", "limits.max_participants_per_room"),
        ("[limits]\nmax_rooms = 0", "limits.max_rooms"),
        ("[limits]\nmax_rooms = 10001", "limits.max_rooms"),
        ("[limits]\nmax_message_bytes = 1023", "limits.max_message_bytes"),
        ("[limits]\nmax_message_bytes = 1048577", "limits.max_message_bytes"),
        ("[limits]\nmessages_per_second = 0.5", "limits.messages_per_second"),
        ("[limits]\nmessages_per_second = 1001", "limits.messages_per_second"),
        ("[limits]\nmessage_burst = 0", "limits.message_burst"),
        ("[limits]\nmessage_burst = 10001", "limits.message_burst"),
        ("[media]\nmax_bitrate_kbps = 99", "media.max_bitrate_kbps"),
        ("[media]\nmax_bitrate_kbps = 20001", "media.max_bitrate_kbps"),
        ('[auth]\ndefault_ttl = "59s"', "auth.default_ttl"),
        ('[auth]\ndefault_ttl = "8d"\nmax_ttl = "7d"', "auth.default_ttl"),
        ('[auth]\nmax_ttl = "8d"', "auth.max_ttl"),
        ('[limits]\nheartbeat_interval = "61s"', "limits.heartbeat_interval"),
        ('[limits]\nheartbeat_interval = "0s"', "limits.heartbeat_interval"),
        ('[auth]\nsecret = "too-short"', "auth.secret"),
        ('[server]\nhost = ""', "server.host"),
        ('[auth]\nissuer = ""', "auth.issuer"),
        ("[ice]\nudp_port = 65536", "ice.udp_port"),
        ("[ice]\nudp_port = -1", "ice.udp_port"),
    ],
)
def test_out_of_range_value_is_refused(tmp_path: Path, text: str, key: str) -> None:
    assert refusal(tmp_path, text).key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[auth]\nsecret = 12345678901234567890123456789012345", "auth.secret"),
        ("[ice]\nturn_password = 4242", "ice.turn_password"),
    ],
)
def test_credentials_are_never_echoed_in_errors(tmp_path: Path, text: str, key: str) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert str(error) == f"{key}: must be a string (value hidden)"


def test_short_secret_error_states_its_length_but_not_its_value(tmp_path: Path) -> None:
    error = refusal(tmp_path, '[auth]\nsecret = "hunter2"')
    assert str(error) == "auth.secret: must be at least 32 characters when set (got 7)"


def test_range_message_states_the_bounds(tmp_path: Path) -> None:
    error = refusal(tmp_path, "[limits]\nmax_message_bytes = 10")
    assert str(error) == "limits.max_message_bytes: must be an integer between 1024 and 1048576 (got 10)"


@pytest.mark.parametrize("value", ['"2 hours"', '"h"', '"-5m"', '"10"', "600", '""'])
def test_bad_duration_is_refused(tmp_path: Path, value: str) -> None:
    error = refusal(tmp_path, f"[auth]\ndefault_ttl = {value}")
    assert error.key == "auth.default_ttl"
    assert 'like "90s", "15m", "2h" or "1d"' in str(error)


def test_heartbeat_timeout_must_exceed_interval(tmp_path: Path) -> None:
    error = refusal(tmp_path, '[limits]\nheartbeat_interval = "30s"\nheartbeat_timeout = "30s"')
    assert error.key == "limits.heartbeat_timeout"
    assert "longer than limits.heartbeat_interval" in str(error)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[ice]\nhost_addresses = ["127.0.0.1", "localhost"]', "ice.host_addresses"),
        ('[ice]\nhost_addresses = ["10.0.0.256"]', "ice.host_addresses"),
        ('[ice]\nannounced_ip = "example.com"', "ice.announced_ip"),
    ],
)
def test_bad_ip_is_refused(tmp_path: Path, text: str, key: str) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert "IPv4 or IPv6 address" in str(error)


def test_ipv6_announced_ip_is_accepted(tmp_path: Path) -> None:
    assert load_text(tmp_path, '[ice]\nannounced_ip = "2001:db8::1"').ice.announced_ip == "2001:db8::1"


@pytest.mark.parametrize(
    "url",
    [
        "example.com",
        "ftp://example.com",
        "https://",
        "https://example.com/haven",
        "https://example.com?x=1",
        "https://example.com#top",
        "https://user:pw@example.com",
        "https://example.com:99999",
    ],
)
def test_bad_public_url_is_refused(tmp_path: Path, url: str) -> None:
    error = refusal(tmp_path, f'[server]\npublic_url = "{url}"')
    assert error.key == "server.public_url"
    assert "http(s)://host[:port]" in str(error)


def test_public_url_is_used_as_given_without_trailing_slash(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[server]\npublic_url = "https://haven.example.org:8443/"')
    assert config.public_url == "https://haven.example.org:8443"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("::", "http://127.0.0.1:8080"),
        ("10.1.2.3", "http://10.1.2.3:8080"),
        ("haven.lan", "http://haven.lan:8080"),
        ("fd00::5", "http://[fd00::5]:8080"),
    ],
)
def test_public_url_is_derived_from_host_and_port(tmp_path: Path, host: str, expected: str) -> None:
    assert load_text(tmp_path, f'[server]\nhost = "{host}"').public_url == expected


def test_public_url_is_https_when_tls_is_set(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("cert")
    (tmp_path / "key.pem").write_text("key")
    config = load_text(
        tmp_path, f'[server]\nport = 8443\ntls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"'
    )
    assert config.public_url == "https://127.0.0.1:8443"


def test_tls_cert_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("key")
    error = refusal(
        tmp_path, f'[server]\ntls_cert = "{tmp_path / "missing.pem"}"\ntls_key = "{tmp_path / "key.pem"}"'
    )
    assert error.key == "server.tls_cert"
    assert "does not exist or is not readable" in str(error)


@pytest.mark.parametrize(("present", "missing"), [("tls_cert", "tls_key"), ("tls_key", "tls_cert")])
def test_half_configured_tls_is_refused(tmp_path: Path, present: str, missing: str) -> None:
    (tmp_path / "file.pem").write_text("pem")
    error = refusal(tmp_path, f'[server]\n{present} = "{tmp_path / "file.pem"}"')
    assert error.key == f"server.{missing}"
    assert "set both or neither" in str(error)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('turn_server = "turn:turn.example.org:3478"', "ice.turn_username"),
        ('turn_server = "turn:turn.example.org:3478"\nturn_username = "u"', "ice.turn_password"),
        ('turn_username = "u"\nturn_password = "p"', "ice.turn_username"),
    ],
)
def test_turn_credentials_go_with_a_turn_server(tmp_path: Path, text: str, key: str) -> None:
    assert refusal(tmp_path, f"[ice]\n{text}").key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('stun_server = "stun.example.org:3478"', "ice.stun_server"),
        ('turn_server = "stun:turn.example.org"\nturn_username = "u"\nturn_password = "p"', "ice.turn_server"),
    ],
)
def test_ice_server_without_its_scheme_is_refused(tmp_path: Path, text: str, key: str) -> None:
    assert refusal(tmp_path, f"[ice]\n{text}").key == key


def test_complete_turn_settings_are_accepted(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[ice]\nudp_port = 0\nstun_server = "stun:stun.example.org:3478"\n'
        'turn_server = "turns:turn.example.org:5349"\nturn_username = "u"\nturn_password = "p"',
    )
    assert config.ice.turn_server == "turns:turn.example.org:5349"


def test_media_uses_one_udp_port_by_default_and_zero_keeps_a_port_per_connection(tmp_path: Path) -> None:
    assert load_text(tmp_path, "").ice.udp_port == 10000
    assert load_text(tmp_path, "[ice]\nudp_port = 0").ice.udp_port == 0


def test_stun_discovery_is_refused_with_one_shared_port(tmp_path: Path) -> None:
    # A server-reflexive address is learnt per socket by aioice; the shared port has no such step, so
    # the operator must name the public address instead: the message says so.
    error = refusal(tmp_path, '[ice]\nstun_server = "stun:stun.example.org:3478"')
    assert error.key == "ice.stun_server"
    assert "announced_ip" in str(error)


def test_env_overrides_file_values(tmp_path: Path) -> None:
    env = {
        "HAVEN_SERVER_PORT": "9000",
        "HAVEN_ICE_HOST_ADDRESSES": "127.0.0.1, 10.0.0.5",
        "HAVEN_MEDIA_USE_UVLOOP": "no",
        "HAVEN_LIMITS_MESSAGES_PER_SECOND": "2.5",
        "HAVEN_LIMITS_HEARTBEAT_INTERVAL": "2s",
        "HAVEN_LOGGING_LEVEL": "debug",
        "HAVEN_CONFIG": "ignored-by-load-config.toml",
        "HOME": "/root",
    }
    config = load_text(tmp_path, "[server]\nport = 8000\n[media]\nuse_uvloop = true\n", env)
    assert config.server.port == 9000
    assert config.ice.host_addresses == ("127.0.0.1", "10.0.0.5")
    assert config.media.use_uvloop is False
    assert config.limits.messages_per_second == 2.5
    assert config.limits.heartbeat_interval == 2.0
    assert config.logging.level == "debug"


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("1", True), ("YES", True), ("yes", True), ("0", False), ("False", False)]
)
def test_env_booleans_accept_common_spellings(text: str, expected: bool) -> None:
    assert load_config(None, env={"HAVEN_MEDIA_USE_UVLOOP": text}).media.use_uvloop is expected


def test_invalid_env_value_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"HAVEN_SERVER_PORT": "abc"})
    assert info.value.key == "server.port"
    assert info.value.variable == "HAVEN_SERVER_PORT"
    assert str(info.value) == 'server.port (HAVEN_SERVER_PORT): must be an integer between 1 and 65535 (got "abc")'


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("HAVEN_ICE_HOST_ADDRESSES", "127.0.0.1,nope", "ice.host_addresses"),
        ("HAVEN_MEDIA_USE_UVLOOP", "maybe", "media.use_uvloop"),
        ("HAVEN_LIMITS_MESSAGES_PER_SECOND", "lots", "limits.messages_per_second"),
        ("HAVEN_LIMITS_HEARTBEAT_TIMEOUT", "5s", "limits.heartbeat_timeout"),
        ("HAVEN_AUTH_DEFAULT_TTL", "forever", "auth.default_ttl"),
    ],
)
def test_each_kind_of_invalid_env_value_names_its_variable(variable: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={variable: value})
    assert info.value.key == key
    assert str(info.value).startswith(f"{key} ({variable}): ")


def test_unknown_haven_variable_for_a_known_section_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"HAVEN_SERVER_PROT": "9000"})
    assert info.value.key == "server.prot"
    assert "HAVEN_SERVER_PROT" in str(info.value)
    assert "unknown key" in str(info.value)


def test_haven_variables_outside_any_section_are_left_alone() -> None:
    assert load_config(None, env={"HAVEN_CONFIG": "x.toml", "HAVEN_HOME": "/srv"}) == Config()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("1.5h", 5400.0), (" 10s ", 10.0)],
)
def test_parse_duration_reads_each_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "s", "10 minutes", "1h30m", "-1s", "10w"])
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number followed by s, m, h or d"):
        parse_duration(text)


def config_with_data_dir(tmp_path: Path, secret: str = "") -> Config:
    data_dir = tmp_path / "data"
    return load_config(None, env={"HAVEN_SERVER_DATA_DIR": str(data_dir), "HAVEN_AUTH_SECRET": secret})


def test_configured_secret_is_used_as_is(tmp_path: Path) -> None:
    config = config_with_data_dir(tmp_path, secret="s" * 40)
    assert resolve_secret(config) == b"s" * 40
    assert not (tmp_path / "data").exists()


def test_secret_is_generated_with_mode_0600_and_reused(tmp_path: Path) -> None:
    config = config_with_data_dir(tmp_path)
    first = resolve_secret(config)
    path = tmp_path / "data" / "auth-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert len(first) >= 32
    assert resolve_secret(config) == first


def test_group_readable_secret_is_fixed_to_0600(tmp_path: Path) -> None:
    config = config_with_data_dir(tmp_path)
    first = resolve_secret(config)
    path = tmp_path / "data" / "auth-secret"
    os.chmod(path, 0o644)
    assert resolve_secret(config) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    config = config_with_data_dir(tmp_path)
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "auth-secret").write_text("short\n")
    with pytest.raises(ConfigError) as info:
        resolve_secret(config)
    assert info.value.key == "auth.secret"


def test_drain_timeout_defaults_to_ten_seconds_and_is_a_bounded_duration(tmp_path: Path) -> None:
    assert Config().server.drain_timeout == 10.0
    assert load_text(tmp_path, '[server]\ndrain_timeout = "30s"').server.drain_timeout == 30.0
    for bad in ('"0s"', '"6m"', '"soon"', "10"):
        error = refusal(tmp_path, f"[server]\ndrain_timeout = {bad}")
        assert error.key == "server.drain_timeout", bad


# -- [turn]: the relay offered to browsers ------------------------------------------------------------

TURN_SECRET = "turn-secret-0123456789-abcdefghijklmnop"


def test_turn_section_is_loaded(tmp_path: Path) -> None:
    turn = load_text(tmp_path, f"""
        [turn]
        urls = ["turn:turn.example.org:3478?transport=udp", "turn:192.0.2.7:3478?transport=tcp",
                "turns:turn.example.org:443?transport=tcp", "turn:[2001:db8::7]:3478?transport=udp"]
        secret = "{TURN_SECRET}"
        credential_ttl = "8h"
        """).turn
    assert turn.urls[0] == "turn:turn.example.org:3478?transport=udp"
    assert len(turn.urls) == 4
    assert turn.secret == TURN_SECRET
    assert turn.credential_ttl == 8 * 3600


def test_turn_defaults_offer_no_relay_and_twelve_hour_credentials() -> None:
    turn = Config().turn
    assert turn.urls == () and turn.secret == "" and turn.credential_ttl == 12 * 3600


@pytest.mark.parametrize(
    "url",
    [
        "stun:turn.example.org:3478",
        "turn:turn.example.org",  # no port
        "turn:turn.example.org:3478",  # no transport: say which
        "turn:turn.example.org:3478?transport=tls",
        "turns:turn.example.org:443?transport=udp",  # TLS runs over TCP
        "turn:turn.example.org:70000?transport=udp",
        "turn://turn.example.org:3478?transport=udp",
        "turn:user@turn.example.org:3478?transport=udp",
        "turn:[not-ipv6]:3478?transport=udp",
        "turn:turn.example.org:3478?transport=udp&x=1",
        "",
    ],
)
def test_bad_turn_url_is_refused_naming_the_key(tmp_path: Path, url: str) -> None:
    error = refusal(tmp_path, f'[turn]\nurls = ["{url}"]\nsecret = "{TURN_SECRET}"')
    assert error.key == "turn.urls"
    assert repr(url).strip("'") in str(error)


def test_turn_urls_need_the_secret(tmp_path: Path) -> None:
    error = refusal(tmp_path, '[turn]\nurls = ["turn:turn.example.org:3478?transport=udp"]')
    assert error.key == "turn.secret"
    assert "static-auth-secret" in str(error)


def test_turn_secret_without_urls_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, f'[turn]\nsecret = "{TURN_SECRET}"').key == "turn.urls"


def test_short_turn_secret_is_refused_without_showing_it(tmp_path: Path) -> None:
    error = refusal(tmp_path, '[turn]\nurls = ["turn:t.example.org:3478?transport=udp"]\nsecret = "short-secret"')
    assert error.key == "turn.secret"
    assert "at least 32 characters" in str(error)
    assert "short-secret" not in str(error)


@pytest.mark.parametrize("ttl", ["5m", "8d", "forever"])
def test_turn_credential_ttl_is_bounded(tmp_path: Path, ttl: str) -> None:
    error = refusal(tmp_path, f'[turn]\ncredential_ttl = "{ttl}"')
    assert error.key == "turn.credential_ttl"
    assert "between 10m and 7d" in str(error)


def test_turn_secret_and_urls_come_from_the_environment() -> None:
    config = load_config(None, env={
        "HAVEN_TURN_URLS": "turn:t.example.org:3478?transport=udp, turns:t.example.org:443?transport=tcp",
        "HAVEN_TURN_SECRET": TURN_SECRET,
        "HAVEN_TURN_CREDENTIAL_TTL": "1d",
    })
    assert config.turn.urls == ("turn:t.example.org:3478?transport=udp", "turns:t.example.org:443?transport=tcp")
    assert config.turn.secret == TURN_SECRET
    assert config.turn.credential_ttl == 86400


def test_missing_turn_secret_names_the_variable_that_set_the_urls() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"HAVEN_TURN_SECRET": "x" * 40})
    assert info.value.key == "turn.urls"
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"HAVEN_TURN_SECRET": "short"})
    assert info.value.variable == "HAVEN_TURN_SECRET"
    assert "short" not in info.value.problem


def test_practice_keys_come_from_the_environment_and_bad_ones_name_the_key() -> None:
    config = load_config(None, env={"HAVEN_PRACTICE_JOIN_WINDOW": "30m", "HAVEN_PRACTICE_INACTIVITY_TIMEOUT": "5m",
                                    "HAVEN_PRACTICE_MAX_LOGIN_FAILURES": "3", "HAVEN_PRACTICE_CLINIC_NAME": "Lakeside"})
    practice = config.practice
    assert (practice.join_window, practice.inactivity_timeout, practice.max_login_failures,
            practice.clinic_name) == (1800, 300, 3, "Lakeside")
    for variable, value, key in (("HAVEN_PRACTICE_JOIN_WINDOW", "soon", "practice.join_window"),
                                 ("HAVEN_PRACTICE_INACTIVITY_TIMEOUT", "10s", "practice.inactivity_timeout"),
                                 ("HAVEN_PRACTICE_MAX_LOGIN_FAILURES", "0", "practice.max_login_failures"),
                                 ("HAVEN_PRACTICE_LOCKOUT", "1s", "practice.lockout"),
                                 ("HAVEN_PRACTICE_JOIN_TOKEN_TTL", "2h", "practice.join_token_ttl"),
                                 ("HAVEN_PRACTICE_CLINIC_NAME", "", "practice.clinic_name")):
        with pytest.raises(ConfigError) as refused:
            load_config(None, env={variable: value})
        assert refused.value.key == key and refused.value.variable == variable
