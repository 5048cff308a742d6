"""A background job run every few seconds on every instance until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Periodic:
    def __init__(self, name: str, work: Callable[[], Awaitable[object]], interval: float) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        # Stopped by an event rather than by cancellation alone: a cancel that lands
        # inside a Redis call can be swallowed by the client library. A stop() that
        # comes before the task first runs is kept.
        while not self._stopping.is_set():
            try:
                await self._work()
            except asyncio.CancelledError:
                raise
            except Exception:  # the job must outlive a Redis or Telegram hiccup
                log.exception("periodic_job_failed", job=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def stop(self) -> None:
        self._stopping.set()
