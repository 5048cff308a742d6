"""Counting the instances' PostgreSQL connections (pg_stat_activity) while the suite runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class ConnectionSampler:
    """Counts this run's instances' connections in pg_stat_activity, continuously."""

    def __init__(self, admin_dsn: str, application_names: list[str], interval: float = 0.05):
        self.dsn = admin_dsn
        self.names = application_names
        self.interval = interval
        self.peak = 0
        self.window_peak = 0
        self.window_samples = 0
        self.peak_by_name: dict[str, int] = defaultdict(int)
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self.dsn)
        self._task = asyncio.create_task(self._run(), name="pg-sampler")

    def reset_window(self) -> None:
        """Start a new window: `window_peak` and `window_samples` count from now."""
        self.window_peak = 0
        self.window_samples = 0

    async def sample(self) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT application_name, count(*) AS n FROM pg_stat_activity "
            "WHERE application_name = ANY($1::text[]) GROUP BY application_name",
            self.names,
        )
        return {r["application_name"]: int(r["n"]) for r in rows}

    async def _run(self) -> None:
        while True:
            counts = await self.sample()
            total = sum(counts.values())
            self.samples += 1
            self.window_samples += 1
            self.peak = max(self.peak, total)
            self.window_peak = max(self.window_peak, total)
            for name, n in counts.items():
                self.peak_by_name[name] = max(self.peak_by_name[name], n)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            if self._task.done() and not self._task.cancelled() and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
        await self._conn.close()
