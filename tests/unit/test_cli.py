"""Tests for server.cli: join links that verify, config checking, and exit codes."""

from __future__ import annotations

import sys
import time
import tomllib
import types
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from server.auth import Grant, TokenIssuer
from server.cli import installed_version, main
from server.config import Config, load_config, resolve_secret
from tests.support.command_line import Run

pytestmark = pytest.mark.usefixtures("clean_environment")  # no HAVEN_* of this machine's leaks in

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "haven.toml"
    path.write_text(
        f'[server]\npublic_url = "https://haven.example.org"\ndata_dir = "{tmp_path / "data"}"\n'
        '[auth]\nmax_ttl = "1d"\n'
    )
    resolve_secret(load_config(path, env={}))  # the server's first start writes its secret
    return path


def token_args(config_file: Path, *extra: str, room: str = "r1", role: str = "host") -> list[str]:
    return ["token", f"--room={room}", "--name", "Sam", "--role", role, "--config", str(config_file), *extra]


def verify(config_file: Path, url: str, room: str | None = None) -> Grant:
    secret = resolve_secret(load_config(config_file, env={}))
    return TokenIssuer(secret, "haven", "haven").verify(url.strip().split("#token=", 1)[1], room=room)


def test_token_prints_a_join_url_whose_fragment_verifies(run: Run, config_file: Path) -> None:
    code, out, err = run(*token_args(config_file, "--ttl", "90m", "--sub", "t-1", room="group-a"))
    assert (code, err) == (0, "")
    url = urlsplit(out.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "haven.example.org", "/r/group-a")
    assert url.fragment.startswith("token=")
    grant = verify(config_file, out, room="group-a")
    assert (grant.sub, grant.name, grant.role) == ("t-1", "Sam", "host")
    assert abs(grant.expires_at - (time.time() + 5400)) < 5


def test_token_without_ttl_uses_the_default_lifetime(run: Run, config_file: Path) -> None:
    code, out, _ = run(*token_args(config_file, role="participant"))
    assert code == 0
    grant = verify(config_file, out)
    assert grant.role == "participant"
    assert abs(grant.expires_at - (time.time() + Config().auth.default_ttl)) < 5


def test_token_reads_the_config_named_by_haven_config(
    run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAVEN_CONFIG", str(config_file))
    code, out, _ = run("token", "--room", "r1", "--name", "Sam", "--role", "participant")
    assert code == 0
    assert out.startswith("https://haven.example.org/r/r1#token=")


@pytest.mark.parametrize("ttl", ["2d", "25h"])
def test_token_longer_than_max_ttl_is_refused(run: Run, config_file: Path, ttl: str) -> None:
    code, out, err = run(*token_args(config_file, "--ttl", ttl))
    assert (code, out) == (2, "")
    assert err.startswith(f"haven: --ttl {ttl}: ")
    assert "auth.max_ttl (1d)" in err


@pytest.mark.parametrize("ttl", ["forever", "0s"])
def test_token_with_an_unusable_ttl_is_refused(run: Run, config_file: Path, ttl: str) -> None:
    code, out, err = run(*token_args(config_file, "--ttl", ttl))
    assert (code, out) == (2, "")
    assert err.startswith("haven: --ttl")


@pytest.mark.parametrize("room", ["has space", "-dash", "r" * 65, "a/b"])
def test_token_for_an_invalid_room_name_is_refused(run: Run, config_file: Path, room: str) -> None:
    code, out, err = run(*token_args(config_file, room=room))
    assert (code, out) == (2, "")
    assert err.startswith("haven: invalid room name")


def test_token_with_an_empty_name_is_refused(run: Run, config_file: Path) -> None:
    code, out, err = run("token", "--room", "r1", "--name", "", "--role", "host", "--config", str(config_file))
    assert (code, out) == (2, "")
    assert "'name'" in err


def test_token_refuses_to_run_without_the_servers_secret_and_creates_none(run: Run, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text(f'[server]\ndata_dir = "{tmp_path / "empty"}"\n')
    code, out, err = run(*token_args(elsewhere))
    assert (code, out) == (1, "")
    assert err.startswith("haven: config error: auth.secret: not set, and ")
    assert "does not exist" in err
    assert not (tmp_path / "empty" / "auth-secret").exists()


def test_admin_create_user_reads_the_password_from_stdin_and_audits_without_the_email(
        run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from server.practice.passwords import check_password
    from server.practice.store import PracticeDb, connect
    from server.storage import Storage

    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    code, out, err = run("admin", "create-user", "--email", "Admin@Clinic.example", "--role", "admin",
                         "--require-totp", "--config", str(config_file))
    assert (code, err) == (0, "")
    assert out.startswith("ok: admin account a-")
    database = str(load_config(config_file, env={}).database_path)
    account = PracticeDb(connect(database)).account_by_email("admin@clinic.example")
    assert account is not None and account["totp_required"] == 1
    assert check_password(account["password_hash"], "a long enough password")
    storage = Storage(database)
    entries = storage.audit_entries()
    storage.close()
    assert [e["action"] for e in entries] == ["account-created"]
    assert "clinic" not in str(entries).lower()
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run("admin", "create-user", "--email", "b@clinic.example", "--role", "clinician",
                       "--config", str(config_file))
    assert code == 1 and "password must be at least 12 characters" in err


def test_token_with_an_unknown_role_is_a_usage_error(run: Run, config_file: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["token", "--room", "r1", "--name", "Sam", "--role", "admin", "--config", str(config_file)])
    assert info.value.code == 2


def test_token_with_a_broken_config_reports_a_config_error(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[auth]\nsecret = 'short'\n")
    code, out, err = run("token", "--room", "r1", "--name", "Sam", "--role", "host", "--config", str(bad))
    assert (code, out) == (2, "")
    assert err.startswith("haven: config error: auth.secret: ")


def test_check_config_accepts_the_example_file(run: Run) -> None:
    path = str(REPO / "config.example.toml")
    assert run("check-config", path) == (0, f"ok: {path}\n", "")


def test_check_config_reports_the_key_and_exits_2(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = "abc"\n')
    code, out, err = run("check-config", str(bad))
    assert (code, out) == (2, "")
    assert err == 'haven: config error: server.port: must be an integer between 1 and 65535 (got "abc")\n'


def test_check_config_names_the_variable_of_a_bad_override(
    run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAVEN_LIMITS_MAX_ROOMS", "lots")
    code, _, err = run("check-config", str(config_file))
    assert code == 2
    assert err.startswith("haven: config error: limits.max_rooms (HAVEN_LIMITS_MAX_ROOMS): ")


def test_check_config_of_a_missing_file_exits_2(run: Run, tmp_path: Path) -> None:
    code, _, err = run("check-config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert err.startswith("haven: config error: ")


def test_serve_with_a_broken_config_exits_2_without_starting(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 1\n")
    code, _, err = run("serve", "--config", str(bad))
    assert code == 2
    assert err == 'haven: config error: server.prot: unknown key (did you mean "port"?)\n'


def test_serve_hands_the_loaded_config_to_the_app(
    run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Config, bool]] = []
    fake_app = types.ModuleType("server.app")

    def serve(config: Config, dev: bool) -> int:
        calls.append((config, dev))
        return 0

    fake_app.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server.app", fake_app)
    assert run("serve", "--config", str(config_file), "--dev")[0] == 0
    assert calls == [(load_config(config_file, env={}), True)]


def test_no_subcommand_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_version_prints_the_installed_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"haven {installed_version()}\n"


def test_the_installed_version_is_the_one_in_pyproject() -> None:
    # A stale install (the tree moved on, nobody reinstalled) would report an old version.
    with open(REPO / "pyproject.toml", "rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    assert installed_version() == declared


def test_backup_copies_the_generated_secret_so_issued_links_still_verify(run: Run, config_file: Path,
                                                                         tmp_path: Path) -> None:
    from server.storage import Storage

    config = load_config(config_file, env={})
    secret = resolve_secret(config)  # generated in the data directory, as on a first start
    storage = Storage(config.database_path)
    storage.audit("join", actor="ana", role="host", room="r1")
    storage.close()
    code, out, err = run("backup", "--to", str(tmp_path / "b"), "--config", str(config_file))
    assert code == 0, err
    copied = tmp_path / "b" / "auth-secret"
    assert copied.read_bytes().strip() == secret and (copied.stat().st_mode & 0o077) == 0
    assert "1 audit entries" in out


def test_backup_without_a_database_says_so(run: Run, config_file: Path, tmp_path: Path) -> None:
    code, _, err = run("backup", "--to", str(tmp_path / "b"), "--config", str(config_file))
    assert code == 1 and "no database at" in err and not (tmp_path / "b").exists()


def test_report_attendance_prints_a_groups_history_and_audits_the_read(run: Run, config_file: Path) -> None:
    import json

    from server.cipher import load_keyring
    from server.practice.store import PracticeDb, connect
    from server.storage import Storage

    config = load_config(config_file, env={})
    database = str(config.database_path)
    code, _, err = run("report", "attendance", "--group", "g-0000000000000000", "--config", str(config_file))
    assert code == 1 and "no records at" in err
    keyring = load_keyring(config.server.data_dir)  # the server's first start makes the key
    storage = Storage(database, keyring)
    db = PracticeDb(connect(database))
    group = db.create_group({"name": "Evenings", "kind": "process", "focus": "", "agenda_template": "",
                             "capacity": 15, "tz": "America/Chicago", "consent_text": "ok",
                             "schedule": json.dumps({"tz": "America/Chicago", "start": "2026-11-02T18:00",
                                                     "duration": 60})}, [])
    member = db.create_member(group["id"], "=Robin", None, "America/Chicago")
    db.db.execute("UPDATE members SET created_at = 0")
    start = 1793664000.0  # 2026-11-02T18:00-06:00
    storage.session_started("s-00000000000a", f"{group['id']}-20261102T1800", start)
    storage.attendance("s-00000000000a", member["id"], "=Robin", "participant", "admitted", start)
    storage.attendance("s-00000000000a", member["id"], "=Robin", "participant", "left", start + 45 * 60)
    storage.close()

    args = ["report", "attendance", "--group", group["id"], "--from", "2026-11-02", "--to", "2026-11-08",
            "--config", str(config_file)]
    code, out, err = run(*args)
    assert (code, err) == (0, "")
    assert f"occurrence,{member['id']},'=Robin,active,20261102T1800" in out  # a formula is defused
    assert ",present,45.0," in out and "2026-11-02,0.75,9.0,False" in out
    code, out, _ = run(*args, "--format", "json", "--tz", "UTC")
    assert code == 0 and json.loads(out)["members"][0]["attendance"][0]["minutes_present"] == 45.0
    code, out, _ = run(*args, "--format", "html")
    assert code == 0 and "<script" not in out and "&#x27;" not in out and "=Robin" in out
    for bad, message in ((["--tz", "Nowhere/City"], "unknown time zone"), (["--to", "2026-10-01"], "--to"),
                         (["--group", "g-ffffffffffffffff"], "no group")):
        code, _, err = run(*args, *bad)
        assert code == 1 and message in err, bad
    storage = Storage(database)
    reads = [e for e in storage.audit_entries() if e["action"] == "records-read"]
    storage.close()
    assert len(reads) == 3 and {e["actor"] for e in reads} == {"cli"} and "Robin" not in str(reads)
