"""Fixtures shared by the media unit tests."""

from __future__ import annotations

import pytest

import media.producer
from tests.support.fake_transports import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the Producer's monotonic clock with one the test moves by hand."""
    fake = Clock()
    monkeypatch.setattr(media.producer.time, "monotonic", fake)
    return fake
