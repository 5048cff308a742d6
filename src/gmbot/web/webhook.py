"""POST {WEBHOOK_PATH}: Telegram's updates, acknowledged only once handled.

Telegram redelivers anything not answered 2xx, so: 200 after the handler
finished; 503 + Retry-After when the work would outlast the request budget, Telegram
asked us to wait, another holder has the update (LeaseLost), or Redis or the database
cannot be reached (then every update is refused at once until readiness passes again:
delivery/dependencies.py); 5xx on an unexpected failure (it comes back); 4xx for a
forged, malformed, oversized or too slowly sent request (Telegram never sends one, and
a 5xx would make a genuine sender retry for a day).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from hmac import compare_digest

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import StreamReader, web
from pydantic import ValidationError

from gmbot.delivery.dependencies import DependencyMonitor, report_unavailable
from gmbot.delivery.fast_path import FastPath, FastPathUnavailable, plain_group_message
from gmbot.delivery.guard import Admission, UpdateGuard
from gmbot.domain.fencing import LeaseLost
from gmbot.domain.telegram import RetryLater
from gmbot.metrics import Metrics
from gmbot.services.events import IncomingMessage
from gmbot.telegram import budget

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # Telegram's updates are far smaller


class _TooLarge(Exception):
    pass


class WebhookHandler:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        metrics: Metrics,
        secrets: Sequence[str],
        *,
        request_budget: float,
        guard: UpdateGuard | None = None,
        duplicate_retry_after: int = 5,
        previous_secret: str | None = None,
        previous_allowed: Callable[[], Awaitable[bool]] | None = None,
        fast_path: FastPath | None = None,
        poison_messages: Callable[[Update], Awaitable[None]] | None = None,
        dependencies: DependencyMonitor | None = None,
        body_timeout: float = 10.0,
    ) -> None:
        self._dp = dispatcher
        self._bot = bot
        self._metrics = metrics
        self._secrets = [s.encode() for s in secrets if s]
        self._budget = request_budget
        self._guard = guard
        self._dup_retry = duplicate_retry_after
        # During a secret rotation the previous secret is honoured until the new
        # one is registered with Telegram (asked only for requests bearing it).
        self._previous = previous_secret.encode() if previous_secret else None
        self._previous_allowed = previous_allowed
        self._fast = fast_path
        self._poison = poison_messages
        self._deps = dependencies
        self._body_timeout = body_timeout
        self._inflight = metrics.webhook_inflight.labels(metrics.instance_id)
        self.draining = False

    async def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode()
        ok = False
        for secret in self._secrets:  # every secret compared: no early exit to time
            ok |= compare_digest(given, secret)
        if ok or self._previous is None or not compare_digest(given, self._previous):
            return ok
        return self._previous_allowed is None or await self._previous_allowed()

    async def receive(self, request: web.Request) -> web.Response:
        if self.draining:
            # Shutting down: the balancer is taking us out; Telegram will retry.
            return _retry_later(1)
        if not await self._authorised(request):
            log.warning("webhook_forbidden", remote=request.remote)
            return web.json_response({"ok": False, "error": "forbidden"}, status=401)
        deps = self._deps
        if deps is not None and deps.degraded and not await deps.admit():
            deps.refused()  # Redis or the database is down: no work until readiness passes
            return _retry_later(deps.retry_after)
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            if self._fast is not None and (plain := plain_group_message(data)) is not None:
                response = await self._fast_path(*plain)
                if response is not None:
                    return response
            update = Update.model_validate(data, context={"bot": self._bot})
        except (ValueError, ValidationError, RecursionError) as exc:
            # RecursionError: a body nested deeper than any update (json or pydantic).
            log.warning("webhook_malformed", error=str(exc)[:200])
            return web.json_response({"ok": False, "error": "malformed update"}, status=400)
        if _event_type(update) is None:
            # A valid update of a type this aiogram does not know (Telegram adds them), or
            # one with no payload: acknowledged and counted, never retried.
            self._metrics.count_update("unknown", "ignored")
            log.info("update_type_unknown", update_id=update.update_id)
            return web.json_response({"ok": True, "ignored": True})
        return await self.handle(update)

    async def _body(self, request: web.Request) -> bytes | web.Response:
        """The body, read within BODY_TIMEOUT and never past MAX_BODY (chunked included)."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _too_large()
        content = request.content
        try:
            if content.is_eof():  # arrived with the headers, as nearly always
                return await _read_at_most(content, MAX_BODY)
            async with asyncio.timeout(self._body_timeout):
                return await _read_at_most(content, MAX_BODY)
        except _TooLarge:
            return _too_large()
        except TimeoutError:
            log.warning("webhook_body_timeout", remote=request.remote)
            return web.json_response({"ok": False, "error": "body too slow"}, status=408)
        except (web.RequestPayloadError, ConnectionError) as exc:
            # A broken chunked encoding, or the sender gone: no update, and no one to answer.
            log.warning("webhook_body_broken", error=str(exc)[:200])
            return web.json_response({"ok": False, "error": "malformed body"}, status=400)

    async def _fast_path(
        self, update_id: int, kind: str, msg: IncomingMessage
    ) -> web.Response | None:
        """A plain group message; None when Redis could not be asked (take the full path)."""
        fast = self._fast
        assert fast is not None
        try:
            return await self._bounded(update_id, lambda: fast.handle(update_id, kind, msg))
        except FastPathUnavailable:
            return None

    async def handle(self, update: Update) -> web.Response:
        ticket = None
        if self._guard is not None:
            # Unclaimed, an update could be handled twice: a claim that cannot be made
            # (Redis down) is answered like any failure, and the update comes back.
            try:
                ticket = await self._guard.admit(update.update_id, _chat_id(update))
                if ticket.admission is not Admission.HANDLE:
                    if ticket.admission is Admission.POISON and self._poison is not None:
                        await self._poison(update)
                    return self._answer(ticket.admission)
            except Exception as exc:
                return self._failed(update.update_id, exc)

        async def work() -> Admission:
            if ticket is not None and self._guard is not None:
                await self._guard.run(ticket, lambda: self._feed(update))
            else:
                await self._feed(update)
            return Admission.HANDLE

        return await self._bounded(update.update_id, work)

    async def _bounded(
        self, update_id: int, work: Callable[[], Awaitable[Admission]]
    ) -> web.Response:
        """Run one update's work within the request budget; map the outcome to HTTP."""
        self._inflight.inc()
        try:
            with budget.budget(self._budget):
                async with asyncio.timeout(self._budget):
                    admission = await work()
        except FastPathUnavailable:
            raise
        except TimeoutError:
            log.warning("webhook_budget_exceeded", update_id=update_id)
            return _retry_later(5)
        except Exception as exc:
            return self._failed(update_id, exc)
        finally:
            self._inflight.dec()
        return self._answer(admission)

    def _failed(self, update_id: int, exc: Exception) -> web.Response:
        """The answer to an update whose handling raised `exc` (called in its except)."""
        if isinstance(exc, RetryLater):
            return _retry_later(exc.retry_after)
        if isinstance(exc, LeaseLost):
            # Stalled past the lease: another holder has the update and will answer it.
            log.info("update_lease_passed", update_id=update_id)
            return _retry_later(self._dup_retry)
        if report_unavailable(exc, update_id, self._deps) is not None:
            return _retry_later(5 if self._deps is None else self._deps.retry_after)
        log.exception("update_failed", update_id=update_id)
        return web.json_response({"ok": False, "error": "handler failed"}, status=500)

    def _answer(self, admission: Admission) -> web.Response:
        if admission is Admission.HANDLE:
            return _ok()
        if admission is Admission.DUPLICATE_IN_FLIGHT:
            return _retry_later(self._dup_retry)
        # Done already, or a poison update given up on: acknowledged, not acted on.
        return web.json_response({"ok": True, "duplicate": True})

    async def _feed(self, update: Update) -> object:
        return await self._dp.feed_update(self._bot, update)


def _event_type(update: Update) -> str | None:
    try:
        return update.event_type
    except Exception:  # aiogram's UpdateTypeLookupError: no event it knows
        return None


def _chat_id(update: Update) -> int | None:
    try:
        event = update.event
    except Exception:  # an update type this aiogram does not know
        return None
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    return chat.id if chat is not None else None


async def _read_at_most(content: StreamReader, limit: int) -> bytes:
    """What the stream holds up to its end; _TooLarge past `limit` bytes. aiohttp pauses
    the socket while its buffer is full, so at most a buffer more than that is held."""
    body = bytearray()
    while chunk := await content.readany():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def _too_large() -> web.Response:
    return web.json_response({"ok": False, "error": "too large"}, status=413)


_OK_BODY = b'{"ok": true}'


def _ok() -> web.Response:
    return web.Response(body=_OK_BODY, content_type="application/json")


def _retry_later(seconds: float) -> web.Response:
    wait = max(1, math.ceil(seconds))
    return web.json_response(
        {"ok": False, "error": "retry later"}, status=503, headers={"Retry-After": str(wait)}
    )
