"""No write lost silently: a full data filesystem mid-session closes the door, tells the hosts and
/readyz, and leaves a counted gap in the audit log once it is writable again (issue 13).

The server runs in its own mount namespace on a small real tmpfs; the test fills that filesystem
through nsenter, so every failure is the kernel's ENOSPC, not a mock.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.support.client import ProtocolClient, ServerError
from tests.support.server_process import ROOT, ServerProcess
from tests.support.waiting import eventually

PROBE = "[storage]\nprobe_interval = \"0.2s\"\n"
WAITING_ROOM = "[session]\nwaiting_room = true\n"
NAMES = {"rivera": "Dr Rivera", "ana": "Ana Quintero", "sam": "Sam Okafor", "lee": "Lee Vasquez",
         "kim": "Kim Hale"}


def _tmpfs_prefix(mountpoint: str) -> list[str]:
    # unshare and sh exec in turn, so the PID Popen sees is the server's; the mount dies with it.
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o size=2m,mode=0700 haven-test "$0" && exec "$@"', mountpoint]


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with ServerProcess(tmp_path, WAITING_ROOM + PROBE, prefix=_tmpfs_prefix(str(data))).running() as process:
        yield process


def in_server_namespace(server: ServerProcess, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    assert server.process is not None
    return subprocess.run(["nsenter", "-t", str(server.process.pid), "-m", "--", *command], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def fill_disk(server: ServerProcess) -> None:
    in_server_namespace(server, "sh", "-c", f'cat /dev/zero > "{server.data_dir}/fill" 2>/dev/null; true')
    df = in_server_namespace(server, "df", "--output=avail", str(server.data_dir))
    assert df.stdout.split()[-1] == "0", df.stdout


def free_disk(server: ServerProcess) -> None:
    in_server_namespace(server, "rm", "-f", f"{server.data_dir}/fill")


def readyz(server: ServerProcess) -> int:
    try:
        with urllib.request.urlopen(f"{server.base_url}/readyz", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def join(server: ServerProcess, sub: str, role: str = "participant", room: str = "group") -> ProtocolClient:
    token = server.issuer.issue(room, NAMES[sub], role, 3600, sub=sub)
    client = ProtocolClient(server.base_url, token, name=sub)
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


async def refused(server: ServerProcess, sub: str, role: str = "participant", room: str = "group") -> str:
    try:
        client = await join(server, sub, role, room)
    except ServerError as exc:
        return exc.code
    await client.close()
    return "let in"


def audit_verify(server: ServerProcess) -> subprocess.CompletedProcess:
    return in_server_namespace(server, sys.executable, "-m", "server.cli", "audit", "verify",
                               "--config", str(server.config_path))


async def test_a_full_disk_mid_session_lets_nobody_new_in_and_leaves_a_counted_gap(server):
    host = await join(server, "rivera", "host")
    waiting = await join(server, "ana")
    member = await join(server, "sam")
    clients = [host, waiting, member]
    try:
        assert waiting.joined["state"] == "waiting"
        await host.request("admit", participant_id="sam")

        fill_disk(server)
        await asyncio.sleep(1.0)  # five probe intervals
        # Nobody new enters: not into the session, not from the waiting room, not into a new session.
        assert await refused(server, "lee") == "records-unavailable", "a join went unrecorded"
        with pytest.raises(ServerError) as admit:
            await host.request("admit", participant_id="ana")
        assert admit.value.code == "records-unavailable", "an admission went unrecorded"
        assert await refused(server, "kim", "host", room="other") == "records-unavailable"
        assert readyz(server) == 503
        await eventually(lambda: host.events_of("records-status"), 5, what="the host to be told")
        assert host.events_of("records-status")[0] == {"type": "records-status", "writable": False}
        assert not member.events_of("records-status"), "only hosts are told"

        # The session in progress goes on, and a host can still cut someone off; these records are lost.
        await host.request("remove", participant_id="sam")
        await eventually(lambda: member.events_of("removed"), 5, what="the removal")
        await host.request("set-room", locked=True)

        free_disk(server)
        await eventually(lambda: readyz(server) == 200, 10, what="/readyz to recover")
        await eventually(lambda: len(host.events_of("records-status")) == 2, 5, what="the host to be told again")
        assert host.events_of("records-status")[1]["writable"] is True
        await host.request("admit", participant_id="ana")
        await eventually(lambda: waiting.events_of("admitted"), 5, what="ana to be admitted")
        await host.request("set-room", locked=False)
        clients.append(await join(server, "lee"))
    finally:
        for client in clients:
            await client.close()

    verify = audit_verify(server)
    assert verify.returncode == 3, (verify.returncode, verify.stdout, verify.stderr)
    assert "INCOMPLETE" in verify.stderr and "1 gap" in verify.stderr, verify.stderr

    log = server.log_path.read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    unwritable = [e for e in events if e["event"] == "records_unwritable"]
    assert len(unwritable) == 1 and unwritable[0]["level"] == "error", unwritable
    recovered = [e for e in events if e["event"] == "records_writable_again"]
    assert recovered and recovered[0]["lost_audit"] > 0 and recovered[0]["lost_attendance"] > 0, recovered
    for secret in (*NAMES.values(), "eyJ"):
        assert secret not in log, f"{secret!r} reached the log"


STORAGE_ON_A_FULL_DISK = r'''
import json, os, subprocess, sys
from server.storage import Storage
from server.cli import main
directory = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "haven-unit", directory], check=True)
path = os.path.join(directory, "haven.db")
changes = []
store = Storage(path)
store.on_writable_change(changes.append)
store.audit("join", actor="u-1", session_id="s-1")
store.attendance("s-1", "u-1", "Name", "participant", "join", 1.0)
store.flush()
with open(os.path.join(directory, "fill"), "wb") as fill:
    try:
        while True:
            fill.write(b"\0" * 65536)
            fill.flush()
    except OSError:
        pass
store.probe().result()
before = store.writable
store.audit("remove", actor="u-9", session_id="s-1", subject="u-1")
store.attendance("s-1", "u-1", "Name", "participant", "removed", 2.0)
store.session_started("s-2", "group", 3.0)
store.flush()
os.unlink(os.path.join(directory, "fill"))
during = store.writable
store.probe().result()
check = store.verify_chain()
entries = store.audit_entries()
store.close()
with open(os.path.join(directory, "haven.toml"), "w") as config:
    config.write(f'[storage]\npath = "{path}"\n')
os.environ["HAVEN_CONFIG"] = os.path.join(directory, "haven.toml")
code = main(["audit", "verify"])
print(json.dumps({"before": before, "during": during, "after": changes, "gaps": list(check.gaps),
                  "lost": check.lost, "last": entries[-1]["action"], "detail": json.loads(entries[-1]["detail"]),
                  "code": code}))
'''


def test_storage_counts_what_a_full_disk_loses_and_verify_reports_the_gap(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir()
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
                          STORAGE_ON_A_FULL_DISK, str(directory)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["before"] is False, "the probe did not notice the full disk"
    assert report["during"] is False
    assert report["after"] == [False, True]
    assert report["last"] == "records-lost"
    assert {k: report["detail"][k] for k in ("audit", "attendance", "sessions")} == \
        {"audit": 1, "attendance": 1, "sessions": 1}
    assert report["lost"] == 3 and len(report["gaps"]) == 1
    assert report["code"] == 3
    assert "INCOMPLETE" in out.stderr and "3 records were lost" in out.stderr
    assert "Name" not in out.stderr
