"""A guest in a family & couples group, end to end through a real server: a facilitator adds a member and then
the member's guest (`guest_of`), the guest gets an invite of their own, exchanges it inside the join window for a
single-use join token bound to their own stable member id, accepts the group's own agreement themselves (the
acceptance is audited under their id) and confirms their emergency information, waits, and is admitted by the
host; the member and the guest are two participants with two ids, and the session's attendance lists each of
them, present, under their own id. Every API response is validated against docs/openapi.yaml."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
from zoneinfo import ZoneInfo

import pytest

from server.app import ISSUER, STORAGE
from tests.integration.test_practice_api import local_minute, practice, token_of  # noqa: F401  (the fixture)
from tests.integration.test_records import clinic
from tests.support.client import ProtocolClient
from tests.support.waiting import eventually

AGREEMENT = "Families group agreement: what a family shares here stays here. Version 1."
TZ = "America/New_York"


@pytest.fixture
async def haven(haven_factory):
    """This module's server (the one `practice` runs on) keeps the waiting room on, so the host admits."""
    return await haven_factory("[session]\nwaiting_room = true\n")


async def invite_join(client, secret: str, display_name: str, room: str) -> str:
    """Open a member's invite page by its secret, exchange it for a join token; check the token is theirs."""
    status, page = await client.call("POST", "/api/v1/invite", {"secret": secret})
    assert status == 200 and page["member"]["display_name"] == display_name
    assert page["open"] is not None and page["open"]["room"] == room  # inside the join window
    status, joined = await client.call("POST", "/api/v1/invite/join", {"secret": secret})
    assert status == 200 and joined["occurrence"]["room"] == room
    return token_of(joined["join_url"])


async def test_a_guest_joins_with_their_own_invite_under_their_own_id_and_accepts_the_agreement(
        practice) -> None:  # noqa: F811
    haven, admin, client = practice
    lee, lee_account = await clinic(admin, client)
    status, group = await lee.call("POST", "/api/v1/groups", {"name": "Families", "kind": "family-couples",
                                                              "tz": TZ, "consent_text": AGREEMENT})
    assert status == 201 and group["kind"] == "family-couples"
    base = f"/api/v1/groups/{group['id']}"

    # The member, then the member's guest: each their own member id and their own invite.
    status, jo = await lee.call("POST", f"{base}/members", {"display_name": "Jo"})
    assert status == 201
    jo_id = jo["member"]["id"]
    status, guest = await lee.call("POST", f"{base}/members", {"display_name": "Jo's partner", "guest_of": jo_id})
    assert status == 201 and guest["member"]["guest_of"] == jo_id
    guest_id = guest["member"]["id"]
    assert guest_id != jo_id and guest["invite_url"] != jo["invite_url"]
    status, shown = await lee.call("GET", f"{base}/members/{guest_id}/invite")
    assert status == 200 and shown["invite_url"] == guest["invite_url"]
    _, detail = await lee.call("GET", base)
    listed = {m["id"]: m for m in detail["members"]}
    assert listed[guest_id]["guest_of"] == jo_id and listed[guest_id]["has_invite"]
    assert listed[jo_id]["guest_of"] is None

    # An occurrence that began ten minutes ago: its join window is open.
    status, scheduled = await lee.call("PUT", f"{base}/schedule", {
        "start": local_minute(TZ, datetime.timedelta(minutes=-10)), "duration": 90})
    assert status == 200
    room, key = scheduled["upcoming"][0]["room"], scheduled["upcoming"][0]["key"]

    # Each opens their own link, on their own device.
    jo_token = await invite_join(client(), jo["invite_url"].split("#", 1)[1], "Jo", room)
    guest_token = await invite_join(client(), guest["invite_url"].split("#", 1)[1], "Jo's partner", room)
    grant = haven.app[ISSUER].verify(guest_token, room=room)
    assert (grant.sub, grant.name, grant.role, grant.once) == (guest_id, "Jo's partner", "participant", True)
    assert haven.app[ISSUER].verify(jo_token, room=room).sub == jo_id
    status, started = await lee.call("POST", f"{base}/start", {"occurrence": key})
    assert status == 200

    host = ProtocolClient(haven.base_url, token_of(started["join_url"]), name="lee")
    member = ProtocolClient(haven.base_url, jo_token, name="jo")
    partner = ProtocolClient(haven.base_url, guest_token, name="partner")
    try:
        await host.connect()
        for who, expected_id in ((member, jo_id), (partner, guest_id)):
            await who.open()
            who.hello = await who.request("hello", version=1, token=who.token)
            # The group's own agreement, offered to the guest as to the member; the guest accepts it themselves.
            assert who.hello["consent"]["text"] == AGREEMENT
            assert who.hello["emergency_info_required"] is True
            who.joined = await who.request("join", consent_version=who.hello["consent"]["version"],
                                           emergency_info=who.emergency_info)
            assert who.joined["state"] == "waiting" and who.joined["self"]["id"] == expected_id
        await eventually(lambda: {p["id"] for e in host.events_of("waiting-list") for p in e["waiting"]} >=
                         {jo_id, guest_id}, 10, what="both to show in the host's waiting list")
        for participant_id in (jo_id, guest_id):
            await host.request("admit", participant_id=participant_id)
        for who in (member, partner):
            await eventually(lambda who=who: who.events_of("admitted"), 10, what=f"{who.name} to be admitted")
        admitted = partner.events_of("admitted")[0]
        assert admitted["self"]["id"] == guest_id
        assert jo_id in {p["id"] for p in admitted["participants"]}  # two participants, side by side
        session_id = host.joined["session_id"]
        await host.request("end-session")
    finally:
        for made in (host, member, partner):
            await made.close()

    storage = haven.app[STORAGE]
    await asyncio.to_thread(storage.flush)
    # The days around the occurrence in Lee's zone (the reader's), whatever the week or the hour.
    day = datetime.datetime.fromisoformat(scheduled["upcoming"][0]["start"]).astimezone(
        ZoneInfo(lee_account["tz"])).date()
    span = f"from={day - datetime.timedelta(days=1)}&to={day + datetime.timedelta(days=1)}"
    status, found = await lee.call("GET", f"{base}/attendance?{span}")
    assert status == 200
    today = next(o for o in found["occurrences"] if o["key"] == key)
    assert today["status"] == "held" and [s["id"] for s in today["sessions"]] == [session_id]
    rows = {m["member_id"]: m for m in found["members"]}
    assert set(rows) == {jo_id, guest_id}
    assert (rows[guest_id]["display_name"], rows[guest_id]["guest_of"]) == ("Jo's partner", jo_id)
    assert rows[jo_id]["guest_of"] is None
    for member_id in (jo_id, guest_id):
        entry = next(a for a in rows[member_id]["attendance"] if a["occurrence"] == key)
        assert entry["status"] == "present", (member_id, entry)

    entries = storage.audit_entries()
    accepted = {e["actor"]: json.loads(e["detail"])["version"] for e in entries
                if e["action"] == "consent-accepted" and e["session_id"] == session_id}
    assert accepted[guest_id] == accepted[jo_id] == hashlib.sha256(AGREEMENT.encode()).hexdigest()
    assert {e["subject"] for e in entries if e["action"] == "admit" and e["session_id"] == session_id} == {
        jo_id, guest_id}
    assert {e["actor"] for e in entries if e["action"] == "invite-join"} == {jo_id, guest_id}
    assert guest_id in {e["subject"] for e in entries if e["action"] == "invite-issued"}
