"""Long polling with many instances: only the holder of the leader lease polls.

The others retry the lease every third of its length, so when the leader dies
another takes over within about one lease. Updates go through the same claim
as webhooks, so an update the old leader had fetched is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from gmbot.cache.leader import RedisLeaderLease
from gmbot.delivery.guard import Admission, UpdateGuard
from gmbot.metrics import Metrics

log = structlog.get_logger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class GuardMiddleware(BaseMiddleware):
    """The update claim, for updates that arrive by getUpdates."""

    def __init__(
        self,
        guard: UpdateGuard,
        *,
        wait_limit: float,
        poll: float = 0.5,
        poison_messages: Callable[[Update], Awaitable[None]] | None = None,
    ) -> None:
        self._guard = guard
        self._poison = poison_messages
        self._wait_limit = wait_limit
        self._poll = poll

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        waited = 0.0
        while True:
            ticket = await self._guard.admit(event.update_id)
            if ticket.admission is Admission.HANDLE:
                return await self._guard.run(ticket, lambda: handler(event, data))
            if ticket.admission is Admission.POISON and self._poison is not None:
                await self._poison(event)
            if ticket.admission is not Admission.DUPLICATE_IN_FLIGHT or waited >= self._wait_limit:
                return UNHANDLED
            # A previous leader was handling it when it died: wait for its lease
            # to lapse (or for it to finish), then take it over.
            await asyncio.sleep(self._poll)
            waited += self._poll


class LeaderPolling:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        lease: RedisLeaderLease,
        metrics: Metrics,
        *,
        lease_seconds: float,
        allowed_updates: Sequence[str],
    ) -> None:
        self._dp = dispatcher
        self._bot = bot
        self._lease = lease
        self._metrics = metrics
        self._period = lease_seconds / 3
        self._allowed = list(allowed_updates)
        self._gauge = metrics.leader.labels(metrics.instance_id)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self._try(self._lease.acquire):
                await self._lead(stop)
            else:
                await _wait(stop, self._period)

    async def _lead(self, stop: asyncio.Event) -> None:
        log.info("polling_leader_acquired", token=self._lease.token)
        self._gauge.set(1)
        polling = asyncio.create_task(
            self._dp.start_polling(
                self._bot,
                allowed_updates=self._allowed,
                handle_signals=False,
                close_bot_session=False,
            )
        )
        try:
            while not stop.is_set() and not polling.done():
                await _wait(stop, self._period)
                if not stop.is_set() and not await self._try(self._lease.renew):
                    log.warning("polling_leader_lost", token=self._lease.token)
                    break
        finally:
            if not polling.done():
                with contextlib.suppress(RuntimeError):
                    await self._dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await polling
            self._gauge.set(0)
            with contextlib.suppress(Exception):
                await self._lease.release()

    @staticmethod
    async def _try(call: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await call()
        except Exception as exc:  # Redis unreachable: nobody may be sure to lead
            log.warning("leader_lease_unavailable", error=str(exc))
            return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
