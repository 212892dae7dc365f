"""The audit anchor: a signed chain head that makes a cut or rewritten tail of the audit log detectable.

Driven the way an operator uses it (`haven audit anchor`, `haven audit verify --anchor`) and the way the
server does (AnchorWriter on a real Storage), against a real SQLite database edited the way an intruder
would edit it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.anchor import AnchorError, AnchorWriter, load_key, parse, sign
from server.storage import Storage
from tests.support.command_line import Run

pytestmark = pytest.mark.usefixtures("clean_environment")  # no HAVEN_* of this machine's leaks in


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config(tmp_path: Path, data: Path) -> str:
    path = tmp_path / "haven.toml"
    path.write_text(f'[server]\ndata_dir = "{data}"\n')
    return str(path)


def log_entries(data: Path, count: int, action: str = "admit") -> None:
    storage = Storage(str(data / "haven.db"))
    for number in range(count):
        storage.audit(action, actor=f"p-{number}", room="r1")
    storage.close()


def cut_tail(data: Path, entries: int) -> None:
    """What an intruder with the database does: delete the last entries; the rest of the chain still links."""
    db = sqlite3.connect(data / "haven.db")
    db.execute("DROP TRIGGER audit_no_delete")  # as someone with the file can (Storage puts it back)
    db.execute("DELETE FROM audit WHERE seq > (SELECT max(seq) FROM audit) - ?", (entries,))
    db.commit()
    db.close()


def test_a_signed_anchor_reads_back_and_any_edit_breaks_its_signature() -> None:
    key = Ed25519PrivateKey.generate()
    anchor = sign(key, 7, "ab" * 32, 7, 1_760_000_000.0)
    assert parse(anchor.to_json()) == anchor
    edited = json.loads(anchor.to_json())
    edited["seq"] = 5  # an intruder moving the anchor back to before the entries they deleted
    with pytest.raises(AnchorError, match="signature"):
        parse(json.dumps(edited))
    for junk in ("", "{", "[]", '{"haven_audit_anchor": 1}', '{"haven_audit_anchor": 1, "seq": "7"}',
                 "x" * 10_000):
        with pytest.raises(AnchorError):
            parse(junk)


def test_verify_with_an_anchor_detects_a_cut_tail_that_the_chain_alone_does_not(
        run: Run, config: str, data: Path, tmp_path: Path) -> None:
    log_entries(data, 5)
    kept = tmp_path / "kept-elsewhere.json"
    code, out, _ = run("audit", "anchor", "--config", config, "--output", str(kept))
    assert code == 0 and "anchored entry 5 of 5" in out
    assert (data / "audit-anchor.key").stat().st_mode & 0o777 == 0o600
    code, out, _ = run("audit", "verify", "--config", config, "--anchor", str(kept))
    assert code == 0 and "holds the anchor" in out and "entry 5" in out

    log_entries(data, 2)  # the log grows after the anchor: still holds it
    assert run("audit", "verify", "--config", config, "--anchor", str(kept))[0] == 0

    cut_tail(data, 3)  # entries 5 to 7 gone
    code, out, _ = run("audit", "verify", "--config", config)
    assert code == 0 and "4 audit entries, hash chain intact" in out  # the hole the anchor closes
    code, _, err = run("audit", "verify", "--config", config, "--anchor", str(kept))
    assert code == 1 and "CUT OR REWRITTEN" in err and "entry 5" in err and "removed from the end" in err


def test_verify_with_an_anchor_detects_a_rewritten_tail(run: Run, config: str, data: Path, tmp_path: Path) -> None:
    log_entries(data, 3)
    kept = tmp_path / "anchor.json"
    kept.write_text(run("audit", "anchor", "--config", config)[1])  # printed for the operator to keep
    cut_tail(data, 1)
    log_entries(data, 2, action="login")  # entry 3 again, a different one, and the chain links on
    assert run("audit", "verify", "--config", config)[0] == 0
    code, _, err = run("audit", "verify", "--config", config, "--anchor", str(kept))
    assert code == 1 and "entry 3 is not the one anchored" in err


def test_an_anchor_signed_by_another_key_or_altered_is_refused(
        run: Run, config: str, data: Path, tmp_path: Path) -> None:
    log_entries(data, 2)
    assert run("audit", "anchor", "--config", config)[0] == 0  # makes this server's key
    storage = Storage(str(data / "haven.db"))
    seq, digest, entries = storage.chain_head()
    storage.close()
    forged = tmp_path / "forged.json"
    forged.write_text(sign(Ed25519PrivateKey.generate(), seq, digest, entries, time.time()).to_json())
    code, _, err = run("audit", "verify", "--config", config, "--anchor", str(forged))
    assert code == 1 and "not by this server's key" in err

    altered = tmp_path / "altered.json"
    body = json.loads(run("audit", "anchor", "--config", config)[1])
    body["entries"] = 1
    altered.write_text(json.dumps(body))
    code, _, err = run("audit", "verify", "--config", config, "--anchor", str(altered))
    assert code == 1 and "signature does not verify" in err
    code, _, err = run("audit", "verify", "--config", config, "--anchor", str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json" in err


def test_anchor_refuses_to_sign_a_tampered_chain(run: Run, config: str, data: Path) -> None:
    log_entries(data, 3)
    db = sqlite3.connect(data / "haven.db")
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 2")
    db.commit()
    db.close()
    code, out, err = run("audit", "anchor", "--config", config)
    assert code == 1 and out == "" and "TAMPERED at entry 2" in err


def writer(storage: Storage, data: Path, clock: Callable[[], float] = time.time) -> AnchorWriter:
    key = load_key(data, create=True)
    assert key is not None
    return AnchorWriter(data / "audit-anchor.json", key, storage.read_chain_head, storage.read_entry_hash,
                        storage.audit, storage.committed, interval=3600, clock=clock)


async def test_the_server_writes_anchors_and_keeps_a_mismatching_one_as_evidence(data: Path) -> None:
    storage = Storage(str(data / "haven.db"))
    anchoring = writer(storage, data)
    await anchoring.start()
    assert await anchoring.status() is None  # an empty log: nothing to anchor yet
    storage.audit("admit", actor="p-1")
    storage.audit("admit", actor="p-2")
    await storage.committed()
    anchored = await anchoring.write_once()
    assert anchored is not None and anchored.seq == 2
    status = await anchoring.status()
    assert status is not None and status["seq"] == 2 and status["matches"] and status["at"].endswith("Z")
    assert parse((data / "audit-anchor.json").read_text()) == anchored
    await anchoring.stop()
    storage.close()

    cut_tail(data, 1)  # while the server was down
    storage = Storage(str(data / "haven.db"))
    restarted = writer(storage, data, clock=lambda: 1_800_000_000.0)
    await restarted.start()
    assert (data / "audit-anchor.json.mismatch-1800000000").exists()  # the evidence, never overwritten
    await storage.committed()
    mismatch = [e for e in storage.audit_entries() if e["action"] == "audit-anchor-mismatch"]
    assert len(mismatch) == 1 and '"anchored_seq":2' in mismatch[0]["detail"]
    status = await restarted.status()  # the new anchor covers the audited mismatch
    assert status is not None and status["matches"] and status["seq"] == 2
    await restarted.stop()
    storage.close()


def test_a_malformed_anchor_key_is_an_error_naming_the_file(data: Path) -> None:
    data.mkdir()
    (data / "audit-anchor.key").write_text("not a key\n")
    with pytest.raises(AnchorError, match="audit-anchor.key"):
        load_key(data, create=True)
    assert load_key(data / "elsewhere", create=False) is None
