"""A program's records through a real server: attendance history across occurrences, excusals, weekly hours,
session records with the facilitator's note, kept moods and member progress; every response validated against
docs/openapi.yaml; another clinician sees none of it; clinical text is sealed in the database file."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.app import CONFIG, STORAGE
from server.practice.wiring import PRACTICE_STORE
from tests.integration.test_practice_api import local_minute, practice  # noqa: F401  (the fixture)
from tests.support.backends import BACKENDS, config_for
from tests.support.backends import query as raw_query
from tests.support.client import ProtocolClient
from tests.support.waiting import eventually

CHICAGO = ZoneInfo("America/Chicago")
MIN = 60.0


@pytest.fixture(params=BACKENDS)
async def haven(request, haven_factory):
    """Haven with its records on each backend: a program's records are the same on SQLite and PostgreSQL."""
    return await haven_factory(config_for(request.param, request))


async def clinic(admin, client, name: str = "Lee", email: str = "lee@clinic.example"):
    await admin.call("POST", "/api/v1/accounts", {"email": email, "role": "clinician", "display_name": name,
                                                  "password": "a clinician password", "tz": "America/Chicago"})
    made = client()
    status, body = await made.call("POST", "/api/v1/login", {"email": email, "password": "a clinician password"})
    assert status == 200
    return made, body["account"]


async def group_with_members(lee, names, **fields):
    _, group = await lee.call("POST", "/api/v1/groups", {"name": "IOP evenings", "kind": "process",
                                                         "tz": "America/Chicago", **fields})
    members = {}
    for name in names:
        _, added = await lee.call("POST", f"/api/v1/groups/{group['id']}/members", {"display_name": name})
        members[name] = added["member"]["id"]
    return group, members


def at(key_start: str, minutes: float) -> float:
    return datetime.datetime.fromisoformat(key_start).timestamp() + minutes * MIN


async def test_three_occurrences_add_up_to_each_members_minutes_and_weekly_hours(practice) -> None:  # noqa: F811
    haven, admin, client = practice
    lee, _ = await clinic(admin, client)
    group, ids = await group_with_members(lee, ["Robin", "Kai", "Asha"])
    base = f"/api/v1/groups/{group['id']}"
    status, _ = await lee.call("PUT", f"{base}/schedule", {"start": "2026-11-02T18:00", "duration": 90,
                                                           "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=3"})
    assert status == 200
    store = haven.app[PRACTICE_STORE]
    # The members were in the group before these evenings (added "now", they would not be theirs to miss).
    await store.call(lambda: store.db.db.execute("UPDATE members SET created_at = 0"))
    status, empty = await lee.call("GET", f"{base}/attendance?from=2026-11-02&to=2026-11-08")
    assert status == 200 and [o["status"] for o in empty["occurrences"]] == ["not-held"] * 3
    mon, wed, thu = (o["scheduled_start"] for o in empty["occurrences"])
    keys = [o["key"] for o in empty["occurrences"]]
    robin, kai, asha = ids["Robin"], ids["Kai"], ids["Asha"]

    # What signaling writes as the evenings run, through the records' writer, at the times they happened.
    storage = haven.app[STORAGE]

    def held(session_id, key, start, end, reason, *events):
        storage.session_started(session_id, f"{group['id']}-{key}", start)
        for who, event, when in events:
            storage.attendance(session_id, who, "name", "participant", event, when)
        storage.session_ended(session_id, end, reason)

    held("s-00000000000a", keys[0], at(mon, -5), at(mon, 90), "host-ended",
         (robin, "join", at(mon, -3)), (robin, "admitted", at(mon, 0)), (robin, "moved", at(mon, 30)),
         (robin, "moved", at(mon, 50)), (robin, "left", at(mon, 90)),
         (kai, "join", at(mon, 10)), (kai, "admitted", at(mon, 12)), (kai, "disconnected", at(mon, 40)),
         (kai, "reconnect", at(mon, 45)), (kai, "admitted", at(mon, 45)), (kai, "session-ended", at(mon, 90)))
    held("s-00000000000b", keys[1], at(wed, -5), at(wed, 90), "host-ended",
         (robin, "join", at(wed, 0)), (robin, "admitted", at(wed, 0)), (robin, "removed", at(wed, 60)),
         (kai, "join", at(wed, 0)), (kai, "admitted", at(wed, 0)), (kai, "session-ended", at(wed, 90)))
    # Thursday's session was restarted: two sessions in one occurrence, the gap between them not counted.
    held("s-00000000000c", keys[2], at(thu, -5), at(thu, 40), "restart",
         (robin, "join", at(thu, 0)), (robin, "admitted", at(thu, 0)),
         (asha, "join", at(thu, 0)), (asha, "admitted", at(thu, 0)))
    held("s-00000000000d", keys[2], at(thu, 41), at(thu, 90), "host-ended",
         (robin, "reconnect", at(thu, 42)), (robin, "admitted", at(thu, 42)), (robin, "left", at(thu, 90)),
         (asha, "reconnect", at(thu, 41)), (asha, "admitted", at(thu, 41)), (asha, "session-ended", at(thu, 90)))
    storage.flush()

    status, excused = await lee.call("PUT", f"{base}/excusals", {"member_id": asha, "occurrence": keys[1],
                                                                 "reason": "Hospital appointment"})
    assert status == 200 and excused["excused"]
    status, found = await lee.call("GET", f"{base}/attendance?from=2026-11-02&to=2026-11-08")
    assert status == 200 and found["tz"] == "America/Chicago"
    assert [o["status"] for o in found["occurrences"]] == ["held"] * 3
    assert [len(o["sessions"]) for o in found["occurrences"]] == [1, 1, 2]
    rows = {m["display_name"]: {a["occurrence"]: a for a in m["attendance"]} for m in found["members"]}

    def summary(name):
        return [(a["status"], a["minutes_present"]) for a in rows[name].values()]

    assert summary("Robin") == [("present", 90.0), ("present", 60.0), ("present", 88.0)]
    assert summary("Kai") == [("present", 73.0), ("present", 90.0), ("absent", 0.0)]
    assert summary("Asha") == [("absent", 0.0), ("excused", 0.0), ("present", 89.0)]
    assert rows["Robin"][keys[0]]["minutes_waiting"] == 3.0
    assert rows["Kai"][keys[0]]["late_minutes"] == 12 and rows["Kai"][keys[0]]["reconnects"] == 1
    assert rows["Robin"][keys[1]]["removed"] and rows["Robin"][keys[1]]["left_early_minutes"] == 30
    assert rows["Kai"][keys[1]]["left_early_minutes"] == 0  # the host ended it: no early leave
    assert rows["Asha"][keys[1]]["excuse_reason"] == "Hospital appointment"
    weeks = {m["display_name"]: m["weeks"] for m in found["members"]}
    assert weeks["Robin"] == [{"week_start": "2026-11-02", "hours": 3.97, "required": 9.0, "met": False}]
    assert weeks["Kai"][0]["hours"] == 2.72 and weeks["Asha"][0]["hours"] == 1.48

    # The exports say the same; the printable page runs nothing.
    async with lee.session.get(f"{haven.base_url}{base}/attendance?from=2026-11-02&to=2026-11-08&format=csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        csv_text = await r.text()
    assert f"occurrence,{robin},Robin,active,{keys[0]}" in csv_text and "Hospital appointment" in csv_text
    assert f"week,{robin},Robin" in csv_text and "2026-11-02,3.97,9.0,False" in csv_text
    async with lee.session.get(f"{haven.base_url}{base}/attendance?from=2026-11-02&to=2026-11-08&format=html") as r:
        page = await r.text()
        assert r.status == 200 and "script-src" not in r.headers["Content-Security-Policy"]
    assert "<script" not in page and "Present 90 min" in page and "Excused: Hospital appointment" in page

    # Taking the excusal back makes the absence count again; the reason is sealed in the file.
    status, _ = await lee.call("DELETE", f"{base}/excusals", {"member_id": asha, "occurrence": keys[1]})
    assert status == 204
    _, again = await lee.call("GET", f"{base}/attendance?from=2026-11-02&to=2026-11-08")
    assert [a["status"] for a in again["members"][2]["attendance"]] == ["absent", "absent", "present"]
    status, refused = await lee.call("DELETE", f"{base}/excusals", {"member_id": asha, "occurrence": keys[1]})
    assert (status, refused["error"]) == (404, "unknown-excusal")
    for body, field in (({"member_id": asha, "occurrence": "nope", "reason": "x"}, "occurrence"),
                        ({"member_id": asha, "occurrence": keys[0], "reason": ""}, "reason"),
                        ({"member_id": asha, "occurrence": keys[0], "reason": "x" * 201}, "reason")):
        status, refused = await lee.call("PUT", f"{base}/excusals", body)
        assert (status, refused["field"]) == (400, field)
    for query in ("from=2026-11-09&to=2026-11-02", "from=2026-01-01&to=2027-12-31", "from=yesterday",
                  "format=pdf"):
        status, refused = await lee.call("GET", f"{base}/attendance?{query}", check=False)
        assert status == 400 and refused["error"] == "bad-request", query


async def test_a_live_session_leaves_its_record_moods_and_progress_for_its_facilitators_only(
        practice, tmp_path) -> None:  # noqa: F811
    haven, admin, client = practice
    lee, lee_account = await clinic(admin, client)
    group, ids = await group_with_members(lee, ["Robin", "Kai", "Asha"], keep_moods=True)
    assert group["keep_moods"] is True
    base = f"/api/v1/groups/{group['id']}"
    _, scheduled = await lee.call("PUT", f"{base}/schedule", {
        "start": local_minute("America/Chicago", datetime.timedelta(minutes=-10)), "duration": 90})
    room = scheduled["upcoming"][0]["room"]
    key = scheduled["upcoming"][0]["key"]
    host = ProtocolClient(haven.base_url, haven.token(room=room, name="Lee", role="host", sub=lee_account["id"]))
    robin = ProtocolClient(haven.base_url, haven.token(room=room, name="Robin", sub=ids["Robin"]))
    kai = ProtocolClient(haven.base_url, haven.token(room=room, name="Kai", sub=ids["Kai"]))
    clients = [host, robin, kai]
    try:
        await host.connect()
        for member, member_id in ((robin, ids["Robin"]), (kai, ids["Kai"])):
            if (await member.connect())["state"] == "waiting":
                await host.request("admit", participant_id=member_id)
        session_id = host.joined["session_id"]
        await host.request("agenda-start", template="default")
        await host.request("agenda-next")
        await host.request("checkin-start", order=[ids["Robin"], ids["Kai"]])
        await robin.request("checkin-mood", rating=6)
        await host.request("checkin-next")
        await kai.request("checkin-mood", rating=3)
        await kai.request("checkin-pass")
        await host.request("homework", text="Write down three moments you felt calm")
        await host.request("breakout-create", names=["Garden"])
        await host.request("breakout-assign", participant_id=ids["Robin"], room="Garden")
        await host.request("breakout-open")
        await eventually(lambda: robin.events_of("moved"), 10, what="Robin to go to the Garden")
        await host.request("breakout-close-all")
        await kai.reconnect()
        await host.request("remove", participant_id=ids["Robin"])
        await host.request("end-session")
    finally:
        for made in clients:
            await made.close()
    haven.app[STORAGE].flush()

    status, found = await lee.call("GET", f"{base}/attendance")  # this week, in Lee's zone
    assert status == 200
    today = next(o for o in found["occurrences"] if o["key"] == key)
    assert today["status"] == "held" and [s["id"] for s in today["sessions"]] == [session_id]
    entries = {m["display_name"]: next(a for a in m["attendance"] if a["occurrence"] == key)
               for m in found["members"]}
    assert entries["Robin"]["status"] == "present" and entries["Robin"]["removed"]
    assert entries["Kai"]["status"] == "present" and entries["Kai"]["reconnects"] == 1
    assert entries["Asha"]["status"] == "absent"  # the session was ended: she did not come
    moods = {m["display_name"]: [x["rating"] for x in m["moods"]] for m in found["members"]}
    assert moods == {"Robin": [6], "Kai": [3], "Asha": []}

    status, record = await lee.call("GET", f"{base}/sessions/{session_id}")
    assert status == 200 and record["occurrence"] == key and record["end_reason"]
    assert [p["index"] for p in record["phases"]] == [0, 1] and all(p["ended_at"] for p in record["phases"])
    assert [(c["display_name"], c["outcome"]) for c in record["checkin"]] == [("Robin", "took-part"),
                                                                               ("Kai", "passed")]
    assert [h["text"] for h in record["homework"]] == ["Write down three moments you felt calm"]
    assert record["breakouts"][0]["rooms"] == [{"name": "Garden", "participants": [ids["Robin"]]}]
    assert record["breakouts"][0]["closed_at"] and record["note"] is None
    note = "Robin engaged well; follow up with Kai about sleep."
    status, saved = await lee.call("PUT", f"{base}/sessions/{session_id}/note", {"text": note})
    assert status == 200 and saved["note"]["text"] == note and saved["note"]["by"] == "Lee"
    assert (await lee.call("GET", f"{base}/sessions/{session_id}"))[1]["note"]["text"] == note

    status, progress = await lee.call("GET", f"{base}/members/{ids['Robin']}/progress")
    assert status == 200 and [m["rating"] for m in progress["moods"]] == [6]
    assert [h["text"] for h in progress["homework"]] == ["Write down three moments you felt calm"]
    assert [a["status"] for a in progress["attendance"]] == ["present"]

    # Another clinician, and a group's records asked for by the wrong group, learn nothing.
    pat, _ = await clinic(admin, client, "Pat", "pat@clinic.example")
    for path in (f"{base}/attendance", f"{base}/sessions/{session_id}", f"{base}/members/{ids['Robin']}/progress"):
        status, refused = await pat.call("GET", path)
        assert (status, refused["error"]) == (404, "unknown-group"), path
    status, refused = await pat.call("PUT", f"{base}/sessions/{session_id}/note", {"text": "mine now"})
    assert (status, refused["error"]) == (404, "unknown-group")
    other, _ = await group_with_members(pat, ["Sol"])
    status, refused = await pat.call("GET", f"/api/v1/groups/{other['id']}/sessions/{session_id}")
    assert (status, refused["error"]) == (404, "unknown-session")

    # Clinical text is sealed in the database (the file, or every row of PostgreSQL's tables); every read was
    # audited, by ids alone.
    target = haven.app[CONFIG].records_target
    if target.postgresql:
        tables = [r[0] for r in raw_query(target, "SELECT tablename FROM pg_tables WHERE schemaname = "
                                                  "current_schema()")]
        raw = "".join(str(raw_query(target, f"SELECT * FROM {table}")) for table in tables).encode()
    else:
        raw = Path(target.path).read_bytes()
        for path in Path(target.path).parent.glob("*.db-wal"):
            raw += path.read_bytes()
    for secret in (b"felt calm", b"follow up with Kai"):
        assert secret not in raw, secret
    ratings = [r[0] for r in raw_query(target, "SELECT rating_sealed FROM moods")]
    assert len(ratings) == 2 and all(r.startswith("hv1:") for r in ratings)
    reads = [e for e in haven.app[STORAGE].audit_entries() if e["action"] == "records-read"]
    assert {json.loads(e["detail"])["what"] for e in reads} == {"attendance", "session", "progress"}
    assert not any(name in json.dumps(reads) for name in ("Robin", "Kai", "Asha", "Lee"))


async def test_moods_are_not_kept_unless_the_group_asks(practice) -> None:  # noqa: F811
    haven, admin, client = practice
    lee, lee_account = await clinic(admin, client)
    group, ids = await group_with_members(lee, ["Robin"])
    assert group["keep_moods"] is False
    base = f"/api/v1/groups/{group['id']}"
    _, scheduled = await lee.call("PUT", f"{base}/schedule", {
        "start": local_minute("America/Chicago", datetime.timedelta(minutes=-10)), "duration": 60})
    room = scheduled["upcoming"][0]["room"]
    host = ProtocolClient(haven.base_url, haven.token(room=room, name="Lee", role="host", sub=lee_account["id"]))
    robin = ProtocolClient(haven.base_url, haven.token(room=room, name="Robin", sub=ids["Robin"]))
    try:
        await host.connect()
        if (await robin.connect())["state"] == "waiting":
            await host.request("admit", participant_id=ids["Robin"])
        await robin.request("checkin-mood", rating=4)
        await eventually(lambda: host.events_of("checkin-mood"), 10, what="the host to get the rating")
        status, changed = await lee.call("PATCH", base, {"keep_moods": True})
        assert status == 200 and changed["keep_moods"] is True
        await robin.request("checkin-mood", rating=7)
        status, refused = await lee.call("PATCH", base, {"keep_moods": "yes"})
        assert (status, refused["field"]) == (400, "keep_moods")
    finally:
        await host.close()
        await robin.close()
    haven.app[STORAGE].flush()
    _, progress = await lee.call("GET", f"{base}/members/{ids['Robin']}/progress")
    assert [m["rating"] for m in progress["moods"]] == [7]  # only the one given after the group asked
