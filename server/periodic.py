"""A background task that runs one coroutine every so often until stopped (the retention purge, the anchor)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("haven.periodic")


class Periodic:
    """Runs ``run_once`` every ``interval`` seconds (first at start, or after one interval when ``wait_first``).

    A failing run is logged as ``failure_event`` and tried again at the next interval: a full disk or a
    locked database must not end the task for good.
    """

    def __init__(self, run_once: Callable[[], Awaitable[object]], interval: float, failure_event: str, *,
                 wait_first: bool = False, traceback: bool = True) -> None:
        self.run_once = run_once
        self.interval = interval
        self.failure_event = failure_event
        self.wait_first = wait_first
        # False for a loop that runs every second or so against a service that may be away for a while:
        # one line naming the exception's type, not a traceback per run.
        self.traceback = traceback
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        if self.wait_first:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                if self.traceback:
                    log.exception(self.failure_event)
                else:
                    log.warning(self.failure_event, error=type(exc).__name__)
            await asyncio.sleep(self.interval)
