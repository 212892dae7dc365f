"""Polling helpers: wait for a condition and, on time-out, say what was still missing."""

from __future__ import annotations

import asyncio
import inspect
import time


async def eventually(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Wait until ``predicate()`` (plain or awaitable) is truthy and return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


async def eventually_async(make, what: str, timeout: float = 20.0):
    """Poll an async predicate (a page query, say) every 250 ms; the browser tests' form of eventually."""
    return await eventually(make, timeout, 0.25, what)
