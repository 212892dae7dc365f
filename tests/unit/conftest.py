"""Fixtures shared by the unit tests: the media's settable clock, and running `haven …` in-process."""

from __future__ import annotations

import pytest

import media.producer
from tests.support.clock import Clock
from tests.support.command_line import clean_environment, run  # noqa: F401 (fixtures)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the Producer's monotonic clock with one the test moves by hand."""
    fake = Clock()
    monkeypatch.setattr(media.producer.time, "monotonic", fake)
    return fake
