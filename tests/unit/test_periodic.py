"""server/periodic.py: a run that fails is logged and tried again at the next interval."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from server.periodic import Periodic


async def test_a_failing_run_is_logged_and_retried_in_one_line_or_with_its_traceback() -> None:
    for traceback in (True, False):
        runs = 0

        async def fail() -> None:
            nonlocal runs
            runs += 1
            raise ConnectionError("Redis is away")

        periodic = Periodic(fail, 0.01, "renew_failed", traceback=traceback)
        with capture_logs() as logs:
            periodic.start()
            for _ in range(200):
                if runs >= 3:
                    break
                await asyncio.sleep(0.01)
            await periodic.stop()
        assert runs >= 3
        failures = [entry for entry in logs if entry["event"] == "renew_failed"]
        assert len(failures) >= 3
        if traceback:
            assert all(entry.get("exc_info") for entry in failures)
        else:
            assert all(entry["error"] == "ConnectionError" and "exc_info" not in entry for entry in failures)
            assert all("Redis is away" not in str(entry) for entry in failures)  # the message may quote a URL
