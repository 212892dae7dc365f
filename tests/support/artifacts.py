"""Where browser tests keep what a person would look at: screenshots, one folder per test run."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    """Return the folder for test artifacts (HAVEN_TEST_ARTIFACTS, default test-artifacts/ in the repo)."""
    path = Path(os.environ.get("HAVEN_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


async def screenshot(page: Any, name: str) -> Path:
    """Save a full-window screenshot of the page as ``<name>.png`` and return its path."""
    path = artifacts_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    await page.screenshot(path=str(path))
    return path
