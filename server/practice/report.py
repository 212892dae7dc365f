"""`haven report attendance`: a group's attendance history read straight from the database, beside a running
server or without one, exactly as the API computes it (server/practice/records.py ``history``).

The read is audited like one through the API (``records-read``, actor ``cli``). The records' key is needed to
show excusal reasons and moods; a command never makes a new one (``load_keyring(create=False)``).
"""

from __future__ import annotations

import json
import os
import time
from zoneinfo import ZoneInfo

from server.cipher import CipherError, load_keyring
from server.config import Config

from .fields import is_time_zone
from .records import Rules, day_span, history, member_moods, public
from .records_export import attendance_csv, attendance_html


class ReportError(Exception):
    """A report that cannot be made, said for the operator."""


def attendance_report(config: Config, group_id: str, first: str | None, last: str | None, tz: str | None,
                      fmt: str) -> str:
    """Return the report's text (csv, json or html); ReportError saying why it cannot be made."""
    from server.storage import Storage  # the records' schema, and the audit chain's writer

    from .errors import PracticeError
    from .store import PracticeStore

    target = config.records_target
    if not target.postgresql and not os.path.exists(target.path):
        raise ReportError(f"no records at {target.path}")
    try:
        keyring = load_keyring(config.server.data_dir, create=False)
    except CipherError as exc:
        raise ReportError(f"cannot read the records key: {exc}") from None
    storage = Storage(target, keyring)
    store = PracticeStore(target, keyring)
    try:
        group = store.run(store.db.group, group_id)
        if group is None:
            raise ReportError(f"no group {group_id!r}")
        zone = tz or group["tz"]
        if not is_time_zone(zone):
            raise ReportError(f"unknown time zone {zone!r} (e.g. America/Chicago)")
        now = time.time()
        try:
            start, end = day_span(first, last, ZoneInfo(zone), now)
        except PracticeError as exc:
            raise ReportError(f"--{exc.body().get('field', 'from')}: {exc.message}") from None
        rules = Rules(config.records.late_after, config.records.weekly_hours_required)
        found = store.run(history, store.db, keyring, group, start, end, zone, rules, now)
        if found["keep_moods"]:
            for member in found["members"]:
                member["moods"] = store.run(member_moods, store.db, keyring, member["member_id"], found)
        storage.audit("records-read", actor="cli", role="operator", subject=group_id,
                      detail={"group": group_id, "what": "attendance", "format": fmt})
    finally:
        store.close()
        storage.close()
    if fmt == "csv":
        return attendance_csv(found)
    if fmt == "html":
        return attendance_html(found, config.practice.clinic_name)
    return json.dumps(public(found), indent=2, ensure_ascii=False) + "\n"
