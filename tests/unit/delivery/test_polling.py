"""The update poller: getUpdates' offset moves past an update only once it was handled,
so one that met the database or Redis down is fetched again, not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiogram.methods import GetUpdates
from aiogram.types import Update
from structlog.testing import capture_logs

from gmbot.delivery.dependencies import DependencyMonitor
from gmbot.delivery.polling import UpdatePoller
from gmbot.domain.ports import CacheUnavailable, StoreUnavailable
from gmbot.metrics import Metrics

WAIT = 5.0  # bound on every wait below; the poller pauses only PAUSE between tries
PAUSE = 0.01


class Session:
    timeout = 60.0


class TelegramQueue:
    """getUpdates as Telegram answers it: every update from `offset` on, the ones below
    it confirmed (gone for good); an empty queue holds the call open."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.session = Session()
        self.pending = [Update(update_id=i) for i in ids]
        self.offsets: list[int | None] = []

    async def __call__(self, call: GetUpdates, request_timeout: int | None = None) -> Any:
        self.offsets.append(call.offset)
        if call.offset is not None:
            self.pending = [u for u in self.pending if u.update_id >= call.offset]
        if not self.pending:
            await asyncio.Event().wait()  # a long poll nothing comes in on
        return list(self.pending)


class Handlers:
    """Stands in for the dispatcher: `down` makes every update fail as `down` says."""

    def __init__(self) -> None:
        self.down: Exception | None = None
        self.failing: set[int] = set()  # these raise a bug of their own
        self.attempts: list[int] = []
        self.handled: list[int] = []

    async def feed_update(self, bot: object, update: Update) -> None:
        self.attempts.append(update.update_id)
        if self.down is not None:
            raise self.down
        if update.update_id in self.failing:
            raise RuntimeError("a bug")
        self.handled.append(update.update_id)


class Readiness:
    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self.calls = 0

    async def __call__(self) -> Sequence[str]:
        self.calls += 1
        down = self._handlers.down
        if down is None:
            return []
        return ["database"] if isinstance(down, StoreUnavailable) else ["redis"]


async def until(condition: Any) -> None:
    for _ in range(int(WAIT / PAUSE)):
        if condition():
            return
        await asyncio.sleep(PAUSE)
    raise AssertionError(f"not reached within {WAIT}s")


def poller(queue: TelegramQueue, handlers: Handlers, **kwargs: Any) -> UpdatePoller:
    return UpdatePoller(
        handlers,  # type: ignore[arg-type]
        queue,  # type: ignore[arg-type]
        allowed_updates=["message"],
        pause=PAUSE,
        **kwargs,
    )


@pytest.mark.parametrize(
    "down", [StoreUnavailable("refused"), CacheUnavailable("refused")], ids=["database", "redis"]
)
async def test_updates_that_met_a_dependency_down_are_fetched_again(down: Exception) -> None:
    queue, handlers = TelegramQueue([1, 2, 3]), Handlers()
    readiness = Readiness(handlers)
    monitor = DependencyMonitor(readiness, Metrics("p"), recheck=PAUSE)
    p = poller(queue, handlers, dependencies=monitor)
    handlers.down = down
    halt = asyncio.Event()
    task = asyncio.create_task(p.run(halt))
    try:
        await until(lambda: sorted(handlers.attempts) == [1, 2, 3] and monitor.degraded)
        await until(lambda: readiness.calls >= 2)  # asked again, still down
        assert queue.offsets == [None]  # not fetched again meanwhile, nothing confirmed
        assert handlers.handled == []

        handlers.down = None  # back: readiness passes, the same updates are handled
        await until(lambda: 4 in queue.offsets)
        assert queue.offsets == [None, None, 4]
        assert sorted(handlers.handled) == [1, 2, 3]
        assert queue.pending == []
        assert not monitor.degraded
    finally:
        halt.set()
        async with asyncio.timeout(WAIT):
            await task


async def test_the_offset_stops_at_the_first_update_that_failed() -> None:
    queue, handlers = TelegramQueue([1, 2, 3]), Handlers()
    handlers.failing = {2}
    p = poller(queue, handlers, max_failures=1000)
    halt = asyncio.Event()
    task = asyncio.create_task(p.run(halt))
    try:
        await until(lambda: handlers.handled.count(3) >= 2)
        # 1 confirmed; 2 failed, so 2 and 3 come again (the guard's done mark makes a
        # redelivered 3 a duplicate in the real bot).
        assert 2 in queue.offsets
        assert all(offset in (None, 2) for offset in queue.offsets)
        assert handlers.handled.count(1) == 1
    finally:
        halt.set()
        async with asyncio.timeout(WAIT):
            await task


async def test_an_update_failing_for_a_bug_is_let_go_after_max_failures() -> None:
    queue, handlers = TelegramQueue([7, 8]), Handlers()
    handlers.failing = {7}
    p = poller(queue, handlers, max_failures=3)
    halt = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(p.run(halt))
        try:
            await until(lambda: p.offset == 9)
        finally:
            halt.set()
            async with asyncio.timeout(WAIT):
                await task
    events = [(e["event"], e.get("update_id")) for e in logs if "update_id" in e]
    assert events == [("update_failed", 7), ("update_failed", 7), ("update_given_up", 7)]


async def test_halting_drops_a_long_poll_in_flight() -> None:
    queue, handlers = TelegramQueue([]), Handlers()
    p = poller(queue, handlers)
    halt = asyncio.Event()
    task = asyncio.create_task(p.run(halt))
    await until(lambda: queue.offsets)
    halt.set()
    async with asyncio.timeout(WAIT):
        await task
    assert queue.offsets == [None]
