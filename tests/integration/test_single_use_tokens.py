"""Join tokens minted with ``use: "once"`` (invites, facilitators' starts) admit once: a second use without the
resume credential is refused with ``token-used``, while a reconnect with the credential takes the place back."""

from __future__ import annotations

import pytest

from server.app import ISSUER
from tests.support.client import ProtocolClient, ServerError


async def test_a_strict_token_is_refused_on_its_second_use_but_resumes_with_its_credential(haven) -> None:
    token = haven.app[ISSUER].issue("group", "Robin", "participant", 300, sub="m-0123456789abcdef", once=True)
    first = ProtocolClient(haven.base_url, token, name="robin")
    second = ProtocolClient(haven.base_url, token, name="copy")
    try:
        await first.connect()
        with pytest.raises(ServerError) as refused:
            await second.connect()
        assert refused.value.code == "token-used"
        assert list(haven.sessions.live["group"].room.participants) == ["m-0123456789abcdef"]
        await first.reconnect()  # the same token with the resume credential: the place is taken back
        assert first.hello["participant"]["id"] == "m-0123456789abcdef"
        assert list(haven.sessions.live["group"].room.participants) == ["m-0123456789abcdef"]
    finally:
        await first.close()
        await second.close()


async def test_an_ordinary_token_used_twice_still_waits_as_a_duplicate_join(haven) -> None:
    token = haven.token(name="Ana", sub="ana")
    first = ProtocolClient(haven.base_url, token, name="ana")
    second = ProtocolClient(haven.base_url, token, name="copy")
    try:
        await first.connect()
        await second.connect()
        assert sorted(haven.sessions.live["group"].room.participants)[1].startswith("ana~")
    finally:
        await first.close()
        await second.close()
