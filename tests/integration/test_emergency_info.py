"""Emergency information over real connections (docs/protocol.md 5.2, 9.3): required of members at each
join, read only by hosts, each reading audited without its content, and never in any log or record."""

from __future__ import annotations

import logging

import pytest

from server.app import STORAGE
from tests.support.client import ProtocolClient, ServerError, connect

SECRET_PLACE = "Flat 9, 77 Quiet Lane"


async def test_members_must_confirm_it_and_hosts_do_not(haven):
    host = await connect(haven, "rivera", "host")
    assert host.hello["emergency_info_required"] is False
    member = ProtocolClient(haven.base_url, haven.token(name="Ana", sub="ana"), name="ana")
    try:
        await member.open()
        hello = await member.request("hello", version=1, token=member.token)
        assert hello["emergency_info_required"] is True
        with pytest.raises(ServerError) as refused:
            await member.request("join", consent_version=hello["consent"]["version"])
        assert refused.value.code == "emergency-info-required"
        with pytest.raises(ServerError) as refused:
            await member.request("join", consent_version=hello["consent"]["version"],
                                 emergency_info={"location": "  ", "contact": "Sam"})
        assert refused.value.code == "bad-request"
        joined = await member.request("join", consent_version=hello["consent"]["version"],
                                      emergency_info={"location": SECRET_PLACE, "contact": "Sam 555-0101"})
        assert joined["state"] == "admitted"
        assert SECRET_PLACE not in str(joined)
    finally:
        await member.close()
        await host.close()


async def test_only_hosts_read_it_and_each_reading_is_audited_without_its_content(haven, caplog):
    caplog.set_level(logging.DEBUG)
    host = await connect(haven, "rivera", "host")
    ana = await connect(haven, "ana")
    ben = await connect(haven, "ben")
    ana_place = ana.emergency_info["location"]
    try:
        info = await host.request("emergency-info", participant_id="ana")
        assert info["confirmed"] is True and info["location"] == ana_place
        assert info["contact"] == ana.emergency_info["contact"] and info["confirmed_at"] > 0
        with pytest.raises(ServerError) as refused:
            await ben.request("emergency-info", participant_id="ana")
        assert refused.value.code == "not-permitted"
        assert ana_place not in str(ben.events) and ana_place not in str(ben.joined)

        storage = haven.app[STORAGE]
        storage.flush()
        viewed = [e for e in storage.audit_entries() if e["action"] == "emergency-info-viewed"]
        assert [(e["actor"], e["subject"]) for e in viewed] == [("rivera", "ana")]
        everything = str(storage.audit_entries())
        assert ana_place not in everything and ana.emergency_info["contact"] not in everything
        assert ana_place not in caplog.text and ana.emergency_info["contact"] not in caplog.text
    finally:
        for c in (host, ana, ben):
            await c.close()
