"""Tests for signaling.ratelimit: the token bucket driven by explicit clock values."""

from __future__ import annotations

import pytest

from signaling.ratelimit import TokenBucket


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("elapsed", "allowed"),
    [(0.0, 0), (0.49, 0), (0.5, 1), (0.99, 1), (1.0, 2), (1.5, 3), (10.0, 3)],
)
def test_tokens_come_back_at_the_rate_up_to_the_burst(elapsed: float, allowed: int) -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    for _ in range(3):
        assert bucket.take(0.0)
    results = [bucket.take(elapsed) for _ in range(5)]
    assert results == [True] * allowed + [False] * (5 - allowed)


def test_fractions_of_a_token_add_up() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    assert bucket.take(0.0) is True
    assert bucket.take(0.5) is False
    assert bucket.take(1.0) is True
    assert bucket.take(1.25) is False


def test_a_steady_sender_at_the_rate_is_never_refused() -> None:
    bucket = TokenBucket(rate=4, burst=1, now=0.0)
    assert all(bucket.take(i / 4) for i in range(100))


def test_a_sender_is_abusive_after_more_than_a_burst_of_refusals_in_a_row() -> None:
    bucket = TokenBucket(rate=1, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    verdicts = []
    for _ in range(3):
        bucket.take(0.0)
        verdicts.append(bucket.abusive())
    assert verdicts == [False, False, True]
    assert bucket.refused_in_a_row == 3


def test_an_allowed_message_forgives_earlier_refusals() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    bucket.take(0.0)
    for _ in range(5):
        bucket.take(0.0)
    assert bucket.abusive() is True
    assert bucket.take(1.0) is True
    assert (bucket.refused_in_a_row, bucket.abusive()) == (0, False)
