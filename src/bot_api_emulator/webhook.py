"""Webhook delivery as Telegram does it.

Updates are grouped in queues (one per chat, or per user for updates without a chat). A queue
has at most one update in flight, so order within a chat holds, while up to max_connections
queues are delivered concurrently over keep-alive connections. An update is forgotten only after
a 2xx answer; otherwise it is resent (first at once, then with doubling delays, at least the
Retry-After the webhook asked for), so a slow answer can make the same update arrive twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

from .faults import Faults
from .journal import Journal
from .params import parse_multipart
from .settings import Settings
from .updates import BotUpdates, PendingUpdate, WebhookConfig

# Methods a webhook answer may not carry (Telegram ignores them there).
_NOT_IN_ANSWER = ("deletewebhook", "setwebhook", "close", "logout")

MethodRunner = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class WebhookDelivery:
    def __init__(
        self,
        updates: BotUpdates,
        config: WebhookConfig,
        settings: Settings,
        journal: Journal,
        faults: Faults,
        run_method: MethodRunner,
    ) -> None:
        self.updates = updates
        self.config = config
        self.settings = settings
        self.journal = journal
        self.faults = faults
        self.run_method = run_method
        self.queues: dict[int, deque[PendingUpdate]] = {}
        self._ready: deque[int] = deque()
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = asyncio.Event()
        self._running.set()
        self.in_flight = 0
        self._headers = {"Content-Type": "application/json"}
        if config.secret_token:
            self._headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        self._timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.max_connections, force_close=False),
            skip_auto_headers=("User-Agent",),
        )

    # ----- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        for update in self.updates.pending():
            self.enqueue(update)
        self.updates.on_new = self.enqueue
        self._workers = [
            asyncio.create_task(self._worker()) for _ in range(self.config.max_connections)
        ]

    async def stop(self) -> None:
        if self.updates.on_new == self.enqueue:
            self.updates.on_new = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in [*self._workers, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._workers, *self._tasks, return_exceptions=True)
        self._workers.clear()
        await self._session.close()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    # ----- scheduling -----------------------------------------------------------------------

    def enqueue(self, update: PendingUpdate) -> None:
        queue = self.queues.get(update.queue)
        if queue is None:
            self.queues[update.queue] = deque((update,))
            self._make_ready(update.queue)
        else:
            queue.append(update)

    def _make_ready(self, key: int) -> None:
        self._timers.pop(key, None)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(key)
                return
        self._ready.append(key)

    async def _next_key(self) -> int:
        if self._ready:
            return self._ready.popleft()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def _retry_delay(self, attempts: int, retry_after: float | None) -> float:
        # Telegram: resend at once after the first failure, then wait 2, 4, 8... (capped).
        backoff = 0.0
        if attempts > 1:
            doubled = self.settings.backoff_base * 2 ** (attempts - 1)
            backoff = min(self.settings.backoff_max, doubled)
        if retry_after:
            return max(retry_after * self.settings.retry_after_scale, backoff)
        return backoff

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._running.is_set():
                await self._running.wait()
            key = await self._next_key()
            if not self._running.is_set():
                self._ready.appendleft(key)
                continue
            queue = self.queues[key]
            update = queue[0]
            self.in_flight += 1
            try:
                ok, retry_after = await self._deliver(update)
            finally:
                self.in_flight -= 1
            expired = loop.time() - update.created > self.settings.update_ttl
            if ok or expired or update.done:
                queue.popleft()
                self.updates.forget(update)
                if queue:
                    self._make_ready(key)
                else:
                    del self.queues[key]
                continue
            delay = self._retry_delay(update.attempts, retry_after)
            if delay <= 0:
                self._make_ready(key)
            else:
                self._timers[key] = loop.call_later(delay, self._make_ready, key)

    # ----- one attempt ----------------------------------------------------------------------

    async def _deliver(self, update: PendingUpdate) -> tuple[bool, float | None]:
        update.attempts += 1
        started = time.perf_counter()
        waited = asyncio.get_running_loop().time() - update.created
        drop = lose = False
        if self.faults.webhooks:
            drop, lose, latency = self.faults.for_delivery(self.updates.bot_id, update.queue)
            if latency:
                await asyncio.sleep(latency)
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        if drop:
            error = "Connection refused"
        else:
            status, error, retry_after = await self._post(update)
            if lose and error is None:
                error = "Read timeout expired"
        self.journal.delivery(
            self.updates.bot_id,
            update.update_id,
            self.config.url,
            update.attempts,
            status,
            error,
            time.perf_counter() - started,
            update.queue,
            waited,
        )
        if error is not None:
            self.config.last_error_date = int(time.time())
            self.config.last_error_message = error
            return False, retry_after
        return True, None

    async def _post(self, update: PendingUpdate) -> tuple[int | None, str | None, float | None]:
        if self._timeout.total != self.settings.webhook_timeout:
            self._timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout)
        try:
            async with self._session.post(
                self.config.url, data=update.body, headers=self._headers, timeout=self._timeout
            ) as response:
                body = await response.read()
                status = response.status
                if 200 <= status < 300:
                    if body and body != b"{}":
                        self._answer_method(body, response.headers.get("Content-Type", ""))
                    return status, None, None
                retry_after = _retry_after(response.headers.get("Retry-After"))
                reason = response.reason or ""
                return status, f"Wrong response from the webhook: {status} {reason}", retry_after
        except TimeoutError:
            return None, "Read timeout expired", None
        except aiohttp.ClientConnectorError:
            return None, "Connection refused", None
        except aiohttp.ClientError:
            return None, "Webhook connection closed", None

    def _answer_method(self, body: bytes, content_type: str) -> None:
        """Run a method the bot returned in its webhook answer, as Telegram does."""
        params: dict[str, Any]
        if content_type.startswith("multipart/form-data"):
            params = dict(parse_multipart(body, content_type))
        else:
            try:
                decoded = json.loads(body)
            except ValueError:
                return
            if not isinstance(decoded, dict):
                return
            params = decoded
        method = str(params.pop("method", "") or "")
        lowered = method.lower()
        if not method or lowered in _NOT_IN_ANSWER or lowered.startswith("get"):
            return
        task = asyncio.create_task(self.run_method(method, params))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
