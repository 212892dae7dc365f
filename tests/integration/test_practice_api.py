"""The /api/v1 practice API through a real server: accounts, logins with TOTP, CSRF, groups, members,
invites and API keys, every response validated against docs/openapi.yaml, every refusal a JSON error."""

from __future__ import annotations

import datetime
import hashlib
import json
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pyotp
import pytest

from server.app import CONFIG, ISSUER, STORAGE
from server.practice.wiring import PRACTICE_API
from tests.support.backends import BACKENDS, config_for
from tests.support.client import ProtocolClient, ServerError
from tests.support.practice_api import ApiClient

PASSWORD = "a long admin password"


def token_of(url: str) -> str:
    """The join token of a join link (its fragment also names the group: ``&title=…``)."""
    fragment = parse_qs(urlsplit(url).fragment)
    assert fragment["title"], "a practice join link names the group it opens"
    return fragment["token"][0]


@pytest.fixture(params=BACKENDS)
async def haven(request, haven_factory):
    """Haven with its records on each backend: the practice's API runs the same queries on SQLite and PostgreSQL."""
    return await haven_factory(config_for(request.param, request))


@pytest.fixture
async def practice(haven):
    """The running server, an admin account and a client logged in as that admin."""
    api = haven.app[PRACTICE_API]
    await api.accounts.create("admin@clinic.example", "admin", PASSWORD)
    admin = ApiClient(haven.base_url)
    status, body = await admin.call("POST", "/api/v1/login", {"email": "admin@clinic.example", "password": PASSWORD})
    assert status == 200 and body["account"]["role"] == "admin"
    clients = [admin]

    def client(**kwargs) -> ApiClient:
        made = ApiClient(haven.base_url, **kwargs)
        clients.append(made)
        return made

    yield haven, admin, client
    for made in clients:
        await made.close()


async def login_with_totp(client: ApiClient, email: str, password: str) -> dict:
    status, body = await client.call("POST", "/api/v1/login", {"email": email, "password": password})
    assert (status, body["error"]) == (401, "totp-enrollment-required")
    code = pyotp.TOTP(body["totp_secret"]).now()
    status, body = await client.call("POST", "/api/v1/login", {"email": email, "password": password, "code": code})
    assert status == 200, body
    return body


async def test_admin_creates_a_clinician_who_enrolls_totp_and_runs_a_group(practice) -> None:
    haven, admin, client = practice
    status, clinician = await admin.call("POST", "/api/v1/accounts", {
        "email": "sam@clinic.example", "role": "clinician", "password": "a clinician password",
        "display_name": "Sam", "tz": "America/Chicago", "totp_required": True})
    assert status == 201 and clinician["totp_required"] and not clinician["totp_enabled"]
    sam = client()
    body = await login_with_totp(sam, "sam@clinic.example", "a clinician password")
    assert body["account"]["totp_enabled"]
    status, group = await sam.call("POST", "/api/v1/groups", {
        "name": "Evening process group", "kind": "process", "tz": "America/Chicago"})
    assert status == 201 and group["capacity"] == 15 and group["facilitators"] == [clinician["id"]]
    assert group["consent_text"] == haven.app[CONFIG].session.consent_text  # the default from config
    members = []
    for name, zone in (("Robin", "Europe/London"), ("Kai", "America/Los_Angeles"), ("Asha", "Asia/Kolkata")):
        status, added = await sam.call("POST", f"/api/v1/groups/{group['id']}/members",
                                       {"display_name": name, "tz": zone})
        assert status == 201 and added["invite_url"].startswith(f"{haven.app[CONFIG].public_url}/invite#")
        members.append(added)
    status, detail = await sam.call("GET", f"/api/v1/groups/{group['id']}")
    assert [m["display_name"] for m in detail["members"]] == ["Robin", "Kai", "Asha"]
    assert all(m["has_invite"] for m in detail["members"])

    # The member's page, by the secret alone; it names no other member.
    member = ApiClient(haven.base_url)
    secret = members[0]["invite_url"].split("#", 1)[1]
    status, page = await member.call("POST", "/api/v1/invite", {"secret": secret})
    assert status == 200 and page["member"] == {"display_name": "Robin", "tz": "Europe/London",
                                                "setup_passed": False}
    assert "Kai" not in str(page) and "Asha" not in str(page)
    status, refused = await member.call("POST", "/api/v1/invite/join", {"secret": secret})
    assert (status, refused["error"], refused["next"]) == (409, "outside-window", None)

    # A "Test my setup" run from the invite reports through this hook (setup_check.RecordResult); a failed
    # one, or one for an unknown invite, marks nobody.
    record = haven.app[PRACTICE_API].record_setup_check
    await record(secret, {"passed": False})
    await record(None, {"passed": True})
    _, detail = await sam.call("GET", f"/api/v1/groups/{group['id']}")
    assert [m["setup_passed"] for m in detail["members"]] == [False, False, False]
    await record(secret, {"passed": True})
    _, detail = await sam.call("GET", f"/api/v1/groups/{group['id']}")
    assert [m["setup_passed"] for m in detail["members"]] == [True, False, False]

    # Revoking takes effect at once; a new link works and the old one stays dead.
    member_id = members[0]["member"]["id"]
    assert (await sam.call("DELETE", f"/api/v1/groups/{group['id']}/members/{member_id}/invite"))[0] == 204
    status, gone = await member.call("POST", "/api/v1/invite", {"secret": secret})
    assert (status, gone["error"]) == (404, "invite-invalid")
    status, fresh = await sam.call("POST", f"/api/v1/groups/{group['id']}/members/{member_id}/invite")
    assert status == 201
    assert (await member.call("POST", "/api/v1/invite", {"secret": fresh["invite_url"].split("#")[1]}))[0] == 200
    assert (await member.call("POST", "/api/v1/invite", {"secret": secret}))[0] == 404

    # Discharging revokes too.
    status, discharged = await sam.call("PATCH", f"/api/v1/groups/{group['id']}/members/{member_id}",
                                        {"status": "discharged"})
    assert status == 200 and discharged["status"] == "discharged" and not discharged["has_invite"]
    await member.close()


async def test_state_changes_need_the_csrf_token_and_our_origin(practice) -> None:
    haven, admin, _ = practice
    body = {"name": "Group", "kind": "process", "tz": "UTC"}
    status, refused = await admin.call("POST", "/api/v1/groups", body, csrf=False)
    assert (status, refused["error"]) == (403, "csrf-failed")
    status, refused = await admin.call("POST", "/api/v1/groups", body, headers={"Origin": "https://evil.example"})
    assert (status, refused["error"]) == (403, "csrf-failed")
    status, refused = await admin.call("POST", "/api/v1/groups", body, headers={"Content-Type": "text/plain"})
    assert (status, refused["error"]) == (415, "bad-request")
    assert (await admin.call("POST", "/api/v1/groups", body))[0] == 201
    status, refused = await admin.call("POST", "/api/v1/login", {"email": "a@b.c", "password": "x"},
                                       headers={"Origin": "https://evil.example"})
    assert (status, refused["error"]) == (403, "csrf-failed")


async def test_clinicians_see_only_their_own_groups_and_cannot_manage_accounts(practice) -> None:
    haven, admin, client = practice
    for email in ("one@clinic.example", "two@clinic.example"):
        assert (await admin.call("POST", "/api/v1/accounts", {"email": email, "role": "clinician",
                                                              "password": "a clinician password"}))[0] == 201
    one, two = client(), client()
    for who, email in ((one, "one@clinic.example"), (two, "two@clinic.example")):
        assert (await who.call("POST", "/api/v1/login", {"email": email, "password": "a clinician password"}))[0] == 200
    _, group = await one.call("POST", "/api/v1/groups", {"name": "Ones", "kind": "psychoeducational", "tz": "UTC"})
    status, listed = await two.call("GET", "/api/v1/groups")
    assert status == 200 and listed["groups"] == []
    status, clinicians = await two.call("GET", "/api/v1/clinicians")
    assert status == 200 and "email" not in str(clinicians) and len(clinicians["clinicians"]) == 3
    status, refused = await two.call("GET", f"/api/v1/groups/{group['id']}")
    assert (status, refused["error"]) == (404, "unknown-group")
    status, refused = await two.call("POST", f"/api/v1/groups/{group['id']}/members", {"display_name": "X"})
    assert (status, refused["error"]) == (404, "unknown-group")
    status, refused = await two.call("GET", "/api/v1/accounts")
    assert (status, refused["error"]) == (403, "not-permitted")
    # A co-facilitator added by the first sees and runs the group too.
    _, me_two = await two.call("GET", "/api/v1/me")
    two_id = me_two["account"]["id"]
    assert two_id in [c["id"] for c in clinicians["clinicians"]]
    status, changed = await one.call("PATCH", f"/api/v1/groups/{group['id']}",
                                     {"facilitators": [group["facilitators"][0], two_id]})
    assert status == 200 and len(changed["facilitators"]) == 2
    assert (await two.call("GET", f"/api/v1/groups/{group['id']}"))[0] == 200


async def test_api_keys_act_for_their_account_without_a_cookie_until_revoked(practice) -> None:
    haven, admin, client = practice
    status, made = await admin.call("POST", "/api/v1/api-keys", {"label": "EHR sync"})
    assert status == 201 and made["key"].startswith("hk_")
    integration = client(api_key=made["key"])
    status, me = await integration.call("GET", "/api/v1/me")
    assert status == 200 and me["account"]["email"] == "admin@clinic.example" and me["csrf_token"] is None
    assert (await integration.call("POST", "/api/v1/groups", {"name": "G", "kind": "process", "tz": "UTC"}))[0] == 201
    assert (await admin.call("DELETE", f"/api/v1/api-keys/{made['api_key']['id']}"))[0] == 204
    status, refused = await integration.call("GET", "/api/v1/me")
    assert (status, refused["error"]) == (401, "bad-api-key")
    status, keys = await admin.call("GET", "/api/v1/api-keys")
    assert keys["api_keys"][0]["revoked"] is True


async def test_hostile_bodies_get_json_errors_naming_the_field(practice) -> None:
    haven, admin, _ = practice
    cases = [
        ({"name": "", "kind": "process", "tz": "UTC"}, "name"),
        ({"name": "G", "kind": "cult", "tz": "UTC"}, "kind"),
        ({"name": "G", "kind": "process", "tz": "Mars/Olympus"}, "tz"),
        ({"name": "G", "kind": "process", "tz": "UTC", "capacity": 10**9}, "capacity"),
        ({"name": "G", "kind": "process", "tz": "UTC", "capacity": True}, "capacity"),
        ({"name": "G", "kind": "specialized", "tz": "UTC"}, "focus"),
        ({"name": "G", "kind": "process", "tz": "UTC", "facilitators": ["a-0000000000000000"]}, "facilitators"),
        ({"name": ["G"], "kind": "process", "tz": "UTC"}, "name"),
    ]
    for body, field in cases:
        status, refused = await admin.call("POST", "/api/v1/groups", body, check=False)
        assert (status, refused["error"], refused.get("field")) == (400, "bad-request", field), body
    status, refused = await admin.call("POST", "/api/v1/groups", None, headers={"Content-Type": "application/json"},
                                       check=False)
    assert status == 400 and refused["error"] == "bad-request"
    for secret in ("", "x" * 500, 7, None):
        status, refused = await admin.call("POST", "/api/v1/invite", {"secret": secret}, check=False)
        assert status in (400, 404) and "error" in refused
    status, refused = await admin.call("GET", "/api/v1/groups/g-0123456789abcdef")
    assert (status, refused["error"]) == (404, "unknown-group")


async def test_logout_ends_the_session(practice) -> None:
    haven, admin, _ = practice
    assert (await admin.call("POST", "/api/v1/logout"))[0] == 204
    status, refused = await admin.call("GET", "/api/v1/me")
    assert (status, refused["error"]) == (401, "not-logged-in")


async def test_oversized_and_malformed_requests_get_json_errors_and_disturb_nothing(practice) -> None:
    haven, admin, _ = practice
    status, refused = await admin.call("POST", "/api/v1/groups", {"name": "x" * 200_000}, check=False)
    assert status == 413 and refused["error"] == "too-large"
    status, refused = await admin.call("POST", "/api/v1/invite", None, check=False,
                                       headers={"Content-Type": "application/json"})
    assert status == 400
    for raw in (b"[1, 2]", b"{not json", b"\xff\xfe", b"null"):
        async with admin.session.post(f"{haven.base_url}/api/v1/invite/join", data=raw,
                                      headers={"Content-Type": "application/json"}) as response:
            body = await response.json()
            assert response.status == 400 and body["error"] == "bad-request", raw
    assert (await admin.call("GET", "/api/v1/me"))[0] == 200


def local_minute(zone: str, delta: datetime.timedelta = datetime.timedelta()) -> str:
    """Return the local time in ``zone`` (now + delta) as a schedule writes it, YYYY-MM-DDTHH:MM."""
    return (datetime.datetime.now(ZoneInfo(zone)) + delta).strftime("%Y-%m-%dT%H:%M")


async def clinician_with_group(haven, admin, client, tz: str = "America/Chicago"):
    await admin.call("POST", "/api/v1/accounts", {"email": "lee@clinic.example", "role": "clinician",
                                                  "password": "a clinician password", "display_name": "Lee"})
    lee = client()
    await lee.call("POST", "/api/v1/login", {"email": "lee@clinic.example", "password": "a clinician password"})
    _, group = await lee.call("POST", "/api/v1/groups", {"name": "IOP evenings", "kind": "process", "tz": tz})
    _, added = await lee.call("POST", f"/api/v1/groups/{group['id']}/members", {"display_name": "Robin",
                                                                                "tz": "Europe/London"})
    return lee, group, added["member"], added["invite_url"].split("#", 1)[1]


async def test_a_schedule_gives_occurrences_and_a_join_window_that_mints_single_use_member_tokens(practice) -> None:
    haven, admin, client = practice
    lee, group, robin, secret = await clinician_with_group(haven, admin, client)
    base = f"/api/v1/groups/{group['id']}"
    # Three evenings a week for eight weeks, starting in two days.
    first = local_minute("America/Chicago", datetime.timedelta(days=2))[:11] + "18:00"
    status, scheduled = await lee.call("PUT", f"{base}/schedule", {
        "start": first, "duration": 90, "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24"})
    assert status == 200 and scheduled["has_schedule"] and scheduled["schedule"]["tz"] == "America/Chicago"
    assert scheduled["upcoming"] and all(o["room"].startswith(group["id"]) for o in scheduled["upcoming"])
    member = client()
    status, page = await member.call("POST", "/api/v1/invite", {"secret": secret})
    assert page["open"] is None and page["next"] == scheduled["upcoming"][0]
    status, refused = await member.call("POST", "/api/v1/invite/join", {"secret": secret})
    assert (status, refused["error"], refused["next"]) == (409, "outside-window", scheduled["upcoming"][0])
    status, refused = await lee.call("POST", f"{base}/start", {})
    assert (status, refused["error"]) == (409, "outside-window")

    # Moving the next occurrence to now opens the window; cancelling it closes it again.
    key = scheduled["upcoming"][0]["key"]
    status, moved = await lee.call("POST", f"{base}/occurrences", {
        "key": key, "action": "move", "start": local_minute("America/Chicago")})
    assert status == 200, moved
    status, page = await member.call("POST", "/api/v1/invite", {"secret": secret})
    assert page["open"]["key"] == key
    status, joined = await member.call("POST", "/api/v1/invite/join", {"secret": secret})
    assert status == 200 and joined["occurrence"]["key"] == key
    token = token_of(joined["join_url"])
    grant = haven.app[ISSUER].verify(token, room=joined["occurrence"]["room"])
    assert (grant.sub, grant.name, grant.role, grant.once) == (robin["id"], "Robin", "participant", True)
    assert grant.expires_at <= datetime.datetime.now().timestamp() + 301  # practice.join_token_ttl
    status, started = await lee.call("POST", f"{base}/start", {"occurrence": key})
    assert status == 200 and started["occurrence"]["room"] == joined["occurrence"]["room"]
    host = haven.app[ISSUER].verify(token_of(started["join_url"]))
    assert (host.role, host.name, host.once) == ("host", "Lee", True)

    status, cancelled = await lee.call("POST", f"{base}/occurrences", {"key": key, "action": "cancel"})
    assert status == 200 and cancelled["upcoming"][0]["cancelled"]
    assert (await member.call("POST", "/api/v1/invite/join", {"secret": secret}))[0] == 409
    status, restored = await lee.call("POST", f"{base}/occurrences", {"key": key, "action": "restore"})
    assert status == 200 and not restored["upcoming"][0]["cancelled"]


async def test_schedule_refusals_name_the_field(practice) -> None:
    haven, admin, client = practice
    lee, group, _, _ = await clinician_with_group(haven, admin, client)
    base = f"/api/v1/groups/{group['id']}"
    cases = [
        ({"start": "2027-03-14T02:30", "duration": 60}, "schedule.start"),  # a spring-forward gap in Chicago
        ({"start": "2027-01-04T18:00", "duration": 2}, "schedule.duration"),
        ({"start": "2027-01-04T18:00", "duration": 60, "rrule": "FREQ=HOURLY"}, "schedule.rrule"),
        ({"start": "2027-01-04T18:00", "duration": 60, "tz": "Nowhere/City"}, "schedule.tz"),
        ({"start": "soon", "duration": 60}, "schedule.start"),
    ]
    for body, field in cases:
        status, refused = await lee.call("PUT", f"{base}/schedule", body)
        assert (status, refused["field"]) == (400, field), body
    status, refused = await lee.call("POST", f"{base}/occurrences", {"key": "20270104T1800", "action": "cancel"})
    assert (status, refused["error"]) == (409, "no-schedule")
    await lee.call("PUT", f"{base}/schedule", {"start": "2027-01-04T18:00", "duration": 60,
                                               "rrule": "FREQ=WEEKLY;COUNT=3"})
    status, refused = await lee.call("POST", f"{base}/occurrences", {"key": "20270105T1800", "action": "cancel"})
    assert (status, refused["field"]) == (400, "key")
    status, refused = await lee.call("POST", f"{base}/occurrences", {"key": "20270104T1800", "action": "explode"})
    assert (status, refused["field"]) == (400, "action")
    # "Until a day": the end of that day in the group's zone, as the rule's UNTIL in UTC.
    weekly = {"start": "2027-01-04T18:00", "duration": 60, "rrule": "FREQ=WEEKLY;BYDAY=MO", "until": "2027-01-18"}
    status, through = await lee.call("PUT", f"{base}/schedule", weekly)
    assert status == 200 and through["schedule"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO;UNTIL=20270119T055959Z"
    for body in ({"rrule": "FREQ=WEEKLY;COUNT=2", "until": "2027-01-18"}, {"rrule": "FREQ=WEEKLY", "until": "soon"},
                 {"rrule": None, "until": "2027-01-18"}):
        status, refused = await lee.call("PUT", f"{base}/schedule", {"start": "2027-01-04T18:00", "duration": 60,
                                                                     **body})
        assert (status, refused["field"]) == (400, "schedule.until"), body
    status, cleared = await lee.call("DELETE", f"{base}/schedule")
    assert status == 200 and cleared["schedule"] is None


async def test_family_groups_take_guests_with_their_own_links_who_leave_with_their_member(practice) -> None:
    haven, admin, client = practice
    _, group = await admin.call("POST", "/api/v1/groups", {"name": "Families", "kind": "family-couples",
                                                           "tz": "America/New_York", "capacity": 3})
    base = f"/api/v1/groups/{group['id']}/members"
    _, jo = await admin.call("POST", base, {"display_name": "Jo"})
    status, guest = await admin.call("POST", base, {"display_name": "Jo's partner", "guest_of": jo["member"]["id"]})
    assert status == 201 and guest["member"]["guest_of"] == jo["member"]["id"]
    assert guest["invite_url"] != jo["invite_url"]
    status, refused = await admin.call("POST", base, {"display_name": "X", "guest_of": guest["member"]["id"]})
    assert (status, refused["field"]) == (400, "guest_of")  # a guest brings no guests
    assert (await admin.call("POST", base, {"display_name": "Third"}))[0] == 201
    status, full = await admin.call("POST", base, {"display_name": "Fourth"})
    assert (status, full["error"]) == (409, "group-full")
    await admin.call("PATCH", f"{base}/{jo['member']['id']}", {"status": "discharged"})
    outsider = client()
    status, gone = await outsider.call("POST", "/api/v1/invite", {"secret": guest["invite_url"].split("#")[1]})
    assert (status, gone["error"]) == (404, "invite-invalid")
    _, process = await admin.call("POST", "/api/v1/groups", {"name": "P", "kind": "process", "tz": "UTC"})
    _, someone = await admin.call("POST", f"/api/v1/groups/{process['id']}/members", {"display_name": "S"})
    status, refused = await admin.call("POST", f"/api/v1/groups/{process['id']}/members",
                                       {"display_name": "G", "guest_of": someone["member"]["id"]})
    assert (status, refused["field"]) == (400, "guest_of")


async def test_a_groups_own_agreement_is_the_one_its_members_accept(practice) -> None:
    haven, admin, _ = practice
    _, group = await admin.call("POST", "/api/v1/groups", {"name": "Trauma group", "kind": "specialized",
                                                           "focus": "trauma", "tz": "UTC",
                                                           "consent_text": "Our own agreement, version 1."})
    room = f"{group['id']}-20270104T1800"
    member = ProtocolClient(haven.base_url, haven.token(room=room, name="Robin", sub="m-00000000000000aa"))
    other = ProtocolClient(haven.base_url, haven.token(room="ad-hoc", name="Ana", sub="ana"))
    try:
        await member.open()
        hello = await member.request("hello", version=1, token=member.token)
        assert hello["consent"]["text"] == "Our own agreement, version 1."
        await other.connect()
        assert other.hello["consent"]["text"] == haven.app[CONFIG].session.consent_text
        with pytest.raises(ServerError) as refused:  # the server's default agreement is not this group's
            await member.request("join", consent_version=other.hello["consent"]["version"],
                                 emergency_info=member.emergency_info)
        assert refused.value.code == "consent-required"
        await member.request("join", consent_version=hello["consent"]["version"], emergency_info=member.emergency_info)
        # A change to the group's text applies to the next hello.
        await admin.call("PATCH", f"/api/v1/groups/{group['id']}", {"consent_text": "Version 2."})
        later = ProtocolClient(haven.base_url, haven.token(room=room, name="Kai", sub="m-00000000000000bb"))
        await later.open()
        assert (await later.request("hello", version=1, token=later.token))["consent"]["text"] == "Version 2."
        await later.close()
    finally:
        await member.close()
        await other.close()
    accepted = [e for e in haven.app[STORAGE].audit_entries() if e["action"] == "consent-accepted"]
    versions = {e["subject"] or e["actor"]: json.loads(e["detail"])["version"] for e in accepted}
    assert versions["m-00000000000000aa"] == hashlib.sha256(b"Our own agreement, version 1.").hexdigest()


async def test_a_group_decides_whether_its_members_confirm_emergency_information(practice) -> None:
    haven, admin, _ = practice
    _, group = await admin.call("POST", "/api/v1/groups", {"name": "Psychoeducation", "kind": "psychoeducational",
                                                           "tz": "UTC"})
    assert group["emergency_info"] is True  # session.require_emergency_info: every group meets by telehealth
    status, changed = await admin.call("PATCH", f"/api/v1/groups/{group['id']}", {"emergency_info": False})
    assert status == 200 and changed["emergency_info"] is False
    status, refused = await admin.call("PATCH", f"/api/v1/groups/{group['id']}", {"emergency_info": "no"})
    assert (status, refused["field"]) == (400, "emergency_info")
    room = f"{group['id']}-20270104T1800"
    member = ProtocolClient(haven.base_url, haven.token(room=room, name="Robin", sub="m-00000000000000aa"))
    elsewhere = ProtocolClient(haven.base_url, haven.token(room="ad-hoc", name="Ana", sub="ana"))
    try:
        await member.open()
        hello = await member.request("hello", version=1, token=member.token)
        assert hello["emergency_info_required"] is False
        joined = await member.request("join", consent_version=hello["consent"]["version"])  # none asked, none given
        assert joined["state"] in ("waiting", "admitted")
        await elsewhere.open()  # a room outside the practice keeps the server's rule
        assert (await elsewhere.request("hello", version=1, token=elsewhere.token))["emergency_info_required"] is True
        await admin.call("PATCH", f"/api/v1/groups/{group['id']}", {"emergency_info": True})
        later = ProtocolClient(haven.base_url, haven.token(room=room, name="Kai", sub="m-00000000000000bb"))
        await later.open()
        hello = await later.request("hello", version=1, token=later.token)
        assert hello["emergency_info_required"] is True  # the change applies to the next hello
        with pytest.raises(ServerError) as refused_join:
            await later.request("join", consent_version=hello["consent"]["version"])
        assert refused_join.value.code == "emergency-info-required"
        await later.close()
    finally:
        await member.close()
        await elsewhere.close()


async def test_members_calendar_downloads_and_feed_parse_and_follow_the_schedule(practice) -> None:
    haven, admin, client = practice
    lee, group, robin, secret = await clinician_with_group(haven, admin, client)
    base = f"/api/v1/groups/{group['id']}"
    member = client()
    status, refused = await member.call("POST", "/api/v1/invite/calendar", {"secret": secret})
    assert (status, refused["error"]) == (404, "no-schedule")
    _, scheduled = await lee.call("PUT", f"{base}/schedule", {"start": "2027-03-01T18:00", "duration": 90,
                                                              "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH;COUNT=24"})
    await lee.call("POST", f"{base}/occurrences", {"key": "20270303T1800", "action": "cancel"})
    status, _ = await member.call("POST", "/api/v1/invite/calendar", {"secret": secret})
    assert status == 200
    async with member.session.post(f"{haven.base_url}/api/v1/invite/calendar", json={"secret": secret}) as response:
        assert response.content_type == "text/calendar"
        assert "attachment" in response.headers["Content-Disposition"]
        downloaded = icalendar.Calendar.from_ical(await response.read())
    events = downloaded.walk("VEVENT")
    assert len(events) == 24
    # 18:00 in Chicago is 00:00 UTC before the March change (14 March 2027) and 23:00 UTC after it.
    starts = {str(e["UID"]).split("-", 1)[0]: e.decoded("DTSTART") for e in events}
    assert starts["20270301T1800"] == datetime.datetime(2027, 3, 2, 0, 0, tzinfo=datetime.UTC)
    assert starts["20270315T1800"] == datetime.datetime(2027, 3, 15, 23, 0, tzinfo=datetime.UTC)
    cancelled = [e for e in events if str(e["UID"]).startswith("20270303T1800")]
    assert str(cancelled[0]["STATUS"]) == "CANCELLED"
    assert secret in str(events[0]["DESCRIPTION"])  # the downloaded file links to the member's own page

    _, page = await member.call("POST", "/api/v1/invite", {"secret": secret})
    feed = page["calendar_feed_url"].replace(haven.app[CONFIG].public_url, haven.base_url)
    async with member.session.get(feed) as response:
        assert response.status == 200 and response.content_type == "text/calendar"
        etag = response.headers["ETag"]
        subscribed = icalendar.Calendar.from_ical(await response.read())
    assert len(subscribed.walk("VEVENT")) == 24
    assert secret not in (await (await member.session.get(feed)).read()).decode()
    async with member.session.get(feed, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    assert "Trauma" not in str(subscribed) and "Robin" not in str(subscribed)
    await lee.call("DELETE", f"{base}/members/{robin['id']}/invite")
    async with member.session.get(feed) as response:
        assert response.status == 404
    async with member.session.get(f"{haven.base_url}/calendar/{'0' * 64}.ics") as response:
        assert response.status == 404


async def test_a_groups_default_agenda_is_offered_to_its_hosts_and_a_wrong_one_is_refused(practice) -> None:
    haven, admin, _ = practice
    status, refused = await admin.call("POST", "/api/v1/groups", {"name": "Anxiety", "kind": "process", "tz": "UTC",
                                                                  "agenda_template": "Check-in\nTopic 20"})
    assert (status, refused["field"]) == (400, "agenda_template")
    _, group = await admin.call("POST", "/api/v1/groups", {
        "name": "Anxiety", "kind": "process", "tz": "UTC",
        "agenda_template": "Mindful arrival 5\nCheck-in, 15\nProcess group: 50 min\nClosing 10"})
    room = f"{group['id']}-20270104T1800"
    host = ProtocolClient(haven.base_url, haven.token(room=room, name="Dr. Lee", sub="lee", role="host"))
    member = ProtocolClient(haven.base_url, haven.token(room=room, name="Robin", sub="m-00000000000000aa"))
    ad_hoc = ProtocolClient(haven.base_url, haven.token(room="ad-hoc", name="Ana", sub="ana", role="host"))
    try:
        for client in (host, member, ad_hoc):
            await client.open()
            client.hello = await client.request("hello", version=1, token=client.token)
        assert host.hello["default_agenda"] == [
            {"title": "Mindful arrival", "minutes": 5}, {"title": "Check-in", "minutes": 15},
            {"title": "Process group", "minutes": 50}, {"title": "Closing", "minutes": 10}]
        assert member.hello["default_agenda"] is None  # members never run the agenda
        assert ad_hoc.hello["default_agenda"] is None  # a room of no group: the server's templates
        # The host starts the session's agenda with those phases, as the web client's editor sends them.
        await host.request("join", consent_version=host.hello["consent"]["version"])
        await host.request("agenda-start", template="group", phases=host.hello["default_agenda"])
        state = [e for e in host.events if e.get("type") == "room-state"][-1]
        assert [p["title"] for p in state["room"]["agenda"]["phases"]] == [
            "Mindful arrival", "Check-in", "Process group", "Closing"]
    finally:
        for client in (host, member, ad_hoc):
            await client.close()
