"""Tests for server.practice.setup_check's verdict: what a member is told for each way a connection can be."""

from __future__ import annotations

from server.practice.setup_check import verdict

SUPPORT = "Call 555-0100"


def judge(
    forwarded: int = 500, path: str = "udp", rtt_ms: float | None = 20.0, loss: float | None = 0.0, received: int = 480
) -> dict:
    return verdict(forwarded, {"path": path, "rtt_ms": rtt_ms, "loss": loss, "received": received}, SUPPORT)


def test_a_good_udp_round_trip_passes() -> None:
    result = judge()
    assert result["passed"] and result["udp"]
    assert result["advice"] == ["Your connection is ready for a session."]
    assert result["support"] == SUPPORT and result["packets_forwarded"] == 500


def test_nothing_back_fails_and_names_the_firewall() -> None:
    for result in (judge(forwarded=0), judge(received=0), judge(path="none", received=0)):
        assert not result["passed"] and not result["udp"]
        assert "firewall" in result["advice"][0]


def test_the_page_cannot_claim_udp_without_the_sfu_forwarding() -> None:
    result = judge(forwarded=0, received=1000)
    assert not result["udp"] and not result["passed"]


def test_a_relayed_connection_passes_with_a_note() -> None:
    result = judge(path="relay")
    assert result["passed"] and not result["udp"]
    assert "relay" in result["advice"][0]


def test_slow_or_lossy_connections_fail_with_what_helps() -> None:
    slow = judge(rtt_ms=800.0)
    assert not slow["passed"] and "slow to answer" in slow["advice"][0]
    lossy = judge(loss=0.2)
    assert not lossy["passed"] and "was lost" in lossy["advice"][0]
    both = judge(rtt_ms=800.0, loss=0.2)
    assert len(both["advice"]) == 2


def test_unmeasured_figures_do_not_fail_a_working_round_trip() -> None:
    assert judge(rtt_ms=None, loss=None)["passed"]
