"""Long polling with many instances: only the holder of the leader lease polls.

The others retry the lease every third of its length, so when the leader dies
another takes over within about one lease. Updates go through the same claim
as webhooks, so an update the old leader had fetched is handled once.

getUpdates confirms every update below the offset it is called with, so the offset
only moves past an update once it was handled or acknowledged (a duplicate, a poison
update). One whose handling failed, above all for Redis or the database being down,
stays unconfirmed and is fetched again later, as Telegram redelivers a webhook update
answered 5xx. (aiogram's own polling confirms each update it fetched before handling
it, and an update whose handler failed is lost.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import GetUpdates
from aiogram.types import TelegramObject, Update
from aiogram.utils.backoff import Backoff, BackoffConfig

from gmbot.cache.leader import RedisLeaderLease
from gmbot.delivery.dependencies import DependencyMonitor, report_unavailable
from gmbot.delivery.guard import Admission, UpdateGuard
from gmbot.domain.fencing import LeaseLost
from gmbot.domain.telegram import RetryLater
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


class Poller(Protocol):
    async def run(self, halt: asyncio.Event) -> None:
        """Fetch and handle updates until `halt` is set."""


# aiogram's own polling backoff: a failed getUpdates is asked again after 1 s, then longer.
FETCH_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)


class UpdatePoller:
    """getUpdates, each batch handled at once through the dispatcher; the offset moves
    over the batch's updates up to the first one that failed."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        allowed_updates: Sequence[str],
        dependencies: DependencyMonitor | None = None,
        timeout: int = 30,
        pause: float = 1.0,
        max_failures: int = 5,
    ) -> None:
        self._dp = dispatcher
        self._bot = bot
        self._allowed = list(allowed_updates)
        self._deps = dependencies
        self._timeout = timeout  # long polling: seconds Telegram holds getUpdates open
        self._pause = pause  # before fetching again after a failure
        # A backstop for failures the guard cannot count (before its claim): an update
        # that failed this often for another reason than a dependency is let go.
        self._max_failures = max_failures
        self._failures: dict[int, int] = {}
        self.offset: int | None = None

    async def run(self, halt: asyncio.Event) -> None:
        backoff = Backoff(FETCH_BACKOFF)
        while not halt.is_set():
            deps = self._deps
            if deps is not None and deps.degraded and not await deps.admit():
                await _wait(halt, deps.recheck)  # fetched again once readiness passes
                continue
            try:
                updates = await self._fetch(halt)
            except Exception as exc:  # Telegram unreachable, or a 409 during a handover
                log.warning("polling_fetch_failed", error=str(exc)[:200])
                await _wait(halt, next(backoff))
                continue
            backoff.reset()
            if not updates:
                continue
            waits = await asyncio.gather(*(self._handle(u) for u in updates))
            for update, wait in zip(updates, waits, strict=True):
                if wait is not None:
                    break
                self.offset = update.update_id + 1
            pause = max((w for w in waits if w is not None), default=0.0)
            if pause:
                await _wait(halt, pause)

    async def _fetch(self, halt: asyncio.Event) -> list[Update]:
        """One long poll; nothing when halted meanwhile (what it would have returned
        stays unconfirmed, for the next leader)."""
        call = GetUpdates(offset=self.offset, timeout=self._timeout, allowed_updates=self._allowed)
        # Longer than the long poll, which is no timeout (as aiogram's polling does).
        request_timeout = int((self._bot.session.timeout or 0) + self._timeout)
        fetch = asyncio.ensure_future(self._bot(call, request_timeout=request_timeout))
        halted = asyncio.ensure_future(halt.wait())
        try:
            await asyncio.wait({fetch, halted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halted.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return []
        return fetch.result()

    async def _handle(self, update: Update) -> float | None:
        """None when the update may be confirmed, else the seconds to wait before
        fetching it again."""
        update_id = update.update_id
        try:
            await self._dp.feed_update(self._bot, update)
        except RetryLater as exc:
            return max(self._pause, exc.retry_after)
        except LeaseLost:
            log.info("update_lease_passed", update_id=update_id)
            return self._pause
        except Exception as exc:
            if report_unavailable(exc, update_id, self._deps) is not None:
                return self._pause
            failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
            if failures < self._max_failures:
                log.exception("update_failed", update_id=update_id)
                return self._pause
            log.exception("update_given_up", update_id=update_id, failures=failures)
        self._failures.pop(update_id, None)
        return None


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
        dependencies: DependencyMonitor | None = None,
        poller: Poller | None = None,
    ) -> None:
        self._poller = poller or UpdatePoller(
            dispatcher, bot, allowed_updates=allowed_updates, dependencies=dependencies
        )
        self._lease = lease
        self._metrics = metrics
        self._period = lease_seconds / 3
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
        halt = asyncio.Event()
        polling = asyncio.create_task(self._poller.run(halt))
        try:
            while not stop.is_set() and not polling.done():
                await _wait(stop, self._period)
                if not stop.is_set() and not await self._try(self._lease.renew):
                    log.warning("polling_leader_lost", token=self._lease.token)
                    break
        finally:
            # A batch being handled is finished; a long poll in flight is dropped.
            halt.set()
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
