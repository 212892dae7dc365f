"""A server whose records key is wrong or lost does not start, and says which key in one line."""

from __future__ import annotations

import os
import subprocess
import sys

from server.cipher import KEY_ENV, Keyring, format_keys, new_key
from server.practice.store import PracticeStore
from tests.support.server_process import ROOT, ServerProcess

GROUP = {"name": "G", "kind": "process", "focus": "", "agenda_template": "", "capacity": 15, "tz": "UTC",
         "consent_text": "c"}


def serve(config, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", "serve", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def test_a_wrong_or_malformed_records_key_is_a_clear_start_failure(tmp_path) -> None:
    server = ServerProcess(tmp_path)
    sealing = Keyring([new_key()])
    store = PracticeStore(str(server.data_dir / "haven.db"), sealing)
    store.db.create_member(store.db.create_group(GROUP, [])["id"], "Robin", "robin@example.org", "UTC")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}

    wrong = serve(server.config_path, {**env, KEY_ENV: format_keys([new_key()])})
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert KEY_ENV in wrong.stderr and "does not open the sealed records" in wrong.stderr

    # No key file and no variable: the server would make a new key, which does not open the old values.
    lost = serve(server.config_path, env)
    assert lost.returncode == 2 and "records.key" in lost.stderr and "Traceback" not in lost.stderr

    malformed = serve(server.config_path, {**env, KEY_ENV: "k1:short"})
    assert malformed.returncode == 2 and KEY_ENV in malformed.stderr and "Traceback" not in malformed.stderr
