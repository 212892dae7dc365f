"""deploy/haven.service: systemd accepts it without a warning, and it keeps the promises deploy/README.md makes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from server.config import LimitsConfig, ServerConfig, parse_duration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "haven.service"
INSTALLED_HAVEN = "/opt/haven/venv/bin/haven"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or ("/usr/bin/systemd-analyze"
                                                      if Path("/usr/bin/systemd-analyze").exists() else None)
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                           reason="systemd-analyze is not installed (Debian package systemd)")


def settings() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze verify on a copy of the unit whose ExecStart binary exists in tmp_path."""
    binary = tmp_path / "bin" / "haven"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    assert INSTALLED_HAVEN in text
    unit = tmp_path / "haven.service"
    unit.write_text(text.replace(INSTALLED_HAVEN, str(binary)))
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)


@needs_systemd_analyze
def test_systemd_verifies_the_unit_without_a_warning(tmp_path: Path) -> None:
    checked = verify(tmp_path, UNIT.read_text())
    assert checked.returncode == 0, checked.stderr
    assert (checked.stdout + checked.stderr).strip() == ""


@needs_systemd_analyze
def test_the_verification_would_see_a_warning(tmp_path: Path) -> None:
    # systemd-analyze exits 0 for an unknown key and only prints it: that is why the test above wants silence.
    checked = verify(tmp_path, UNIT.read_text().replace("[Install]", "Bogus=1\n[Install]"))
    assert "Bogus" in checked.stdout + checked.stderr


def test_the_unit_runs_haven_as_its_own_user_with_the_state_directory_as_data_dir() -> None:
    unit = settings()
    assert unit["User"] == ["haven"]
    assert unit["StateDirectory"] == ["haven"]
    assert "HAVEN_SERVER_DATA_DIR=/var/lib/haven" in unit["Environment"]
    assert unit["ExecStart"] == [f"{INSTALLED_HAVEN} serve --config /etc/haven/haven.toml"]


def test_the_unit_is_hardened() -> None:
    unit = settings()
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "CapabilityBoundingSet": "", "LockPersonality": "yes", "RestrictRealtime": "yes",
        "SystemCallArchitectures": "native", "LimitCORE": "0", "KillSignal": "SIGTERM",
        # aiortc's DTLS needs write+execute memory (cffi callbacks): see the comment in the unit.
        "MemoryDenyWriteExecute": "no",
    }
    assert {key: unit.get(key, [None])[-1] for key in expected} == expected


def test_systemd_waits_longer_than_the_drain_and_allows_enough_file_descriptors() -> None:
    unit = settings()
    stop = parse_duration(unit["TimeoutStopSec"][-1])
    assert stop > ServerConfig().drain_timeout + 5, "systemd would SIGKILL a drain that is still in time"
    comment = UNIT.read_text()
    per_participant = int(re.search(r"(\d+) at most", comment).group(1))  # type: ignore[union-attr]
    limits = LimitsConfig()
    participants = limits.max_rooms * limits.max_participants_per_room
    assert int(unit["LimitNOFILE"][-1]) >= participants * per_participant + 100
