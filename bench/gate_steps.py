"""CPU time of each step of a webhook update, measured in-process, call after call.

Used by bench/gate_bench.py --steps once its load phase is over: a GMBot runtime with
the benchmark instance's settings (same database, same Redis namespace, so the groups
are protected and the members verified) is started in this process, and each step of
the steady-state path is run N times in a row and timed with time.process_time() (the
CPU of this process and its threads, so a neighbour's load hardly moves it, and
waiting for Redis is not counted). Sequential calls: what one request costs, without
the contention of 40 concurrent ones, and with one event-loop wake-up per Redis reply
(under load one wake-up serves many replies): compare steps with each other, not with
the CPU per request measured under wrk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

# update_ids for this phase: above the wrk runs' blocks, below 2**31.
FIRST_ID = 2_100_000_000


def _body(update_id: int, chat_id: int, user_id: int) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id % 1_000_000,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "supergroup", "title": "Bench group"},
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": "Member",
                    "language_code": "en",
                },
                "text": "hello, this is a benchmark message",
            },
        },
        separators=(",", ":"),
    ).encode()


async def _cpu_us(step: Callable[[int], Awaitable[Any] | Any], n: int) -> float:
    """Mean CPU microseconds of step(i) over n calls (after n // 10 warm-up calls), with
    the cyclic garbage collector off: its full collections land on whichever step
    happens to allocate then (measure them with gate_bench.py --whatif gc-freeze)."""
    warm = max(1, n // 10)
    gc.collect()
    gc.disable()
    try:
        return await _timed(step, n, warm)
    finally:
        gc.enable()


async def _timed(step: Callable[[int], Awaitable[Any] | Any], n: int, warm: int) -> float:
    for i in range(warm):
        result = step(i)
        if asyncio.iscoroutine(result):
            await result
    started = time.process_time()
    for i in range(warm, warm + n):
        result = step(i)
        if asyncio.iscoroutine(result):
            await result
    return (time.process_time() - started) / n * 1e6


async def measure_steps(
    overrides: dict[str, Any], groups: list[int], members: list[int], *, n: int = 2000
) -> list[tuple[str, float]]:
    from aiogram.dispatcher.event import handler as aiogram_handler
    from aiogram.types import Update
    from aiohttp import web
    from redis.asyncio import Redis

    from gmbot.bot import translate
    from gmbot.config import load_settings
    from gmbot.container import build_container
    from gmbot.logging import configure_logging
    from gmbot.runtime import WEBHOOK_HANDLER, start
    from gmbot.telegram import budget

    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.effective_log_format, settings.instance_id)
    runtime = await start(settings, build_container(settings))
    plain = Redis.from_url(settings.redis_url or "")
    try:
        app, _probes = runtime.web_app()
        handler = app[WEBHOOK_HANDLER]
        dp, bot, guard = runtime.dispatcher, runtime.bot, runtime.guard
        services = runtime.services
        assert handler is not None
        assert dp is not None
        assert bot is not None
        assert guard is not None
        assert services is not None
        metrics = services.metrics
        ids = iter(range(FIRST_ID, FIRST_ID + 100 * n))
        bodies = [
            _body(next(ids), groups[i % len(groups)], members[(i * 7) % len(members)])
            for i in range(2 * n)
        ]
        parsed = [json.loads(b) for b in bodies]
        updates = [Update.model_validate(d, context={"bot": bot}) for d in parsed]
        key = f"{settings.redis_namespace}steps"
        await plain.set(key, "1")

        def fresh_update(_i: int) -> Update:
            data = json.loads(_body(next(ids), groups[0], members[0]))
            return Update.model_validate(data, context={"bot": bot})

        async def noop() -> None:
            return None

        async def guarded(i: int) -> None:
            ticket = await guard.admit(next(ids), groups[0])
            await guard.run(ticket, noop)

        async def middleware_bookkeeping(i: int) -> None:
            import structlog

            started = time.perf_counter()
            with structlog.contextvars.bound_contextvars(update_id=i, chat_id=1, user_id=2):
                await noop()
            metrics.update_latency.labels(metrics.instance_id, "message").observe(
                time.perf_counter() - started
            )
            metrics.count_update("message", "passed")

        async def deadline(i: int) -> None:
            with budget.budget(25.0):
                async with asyncio.timeout(25.0):
                    await noop()

        handled = iter(updates)

        async def inline_call(self: Any, *args: Any, **kwargs: Any) -> Any:
            wrapped = partial(self.callback, *args, **self._prepare_kwargs(kwargs))
            return await wrapped() if self.awaitable else wrapped()

        async def feed_inline(i: int) -> Any:
            original = aiogram_handler.CallableObject.call
            aiogram_handler.CallableObject.call = inline_call  # type: ignore[method-assign]
            try:
                return await dp.feed_update(bot, updates[i % len(updates)])
            finally:
                aiogram_handler.CallableObject.call = original  # type: ignore[method-assign]

        steps: list[tuple[str, Callable[[int], Any]]] = [
            ("json.loads(body)", lambda i: json.loads(bodies[i % len(bodies)])),
            (
                "Update.model_validate(data)",
                lambda i: Update.model_validate(parsed[i % len(parsed)], context={"bot": bot}),
            ),
            ("UpdateGuard.admit + run/finish (2 EVALSHA)", guarded),
            ("asyncio.timeout + budget context", deadline),
            (
                "GateService.on_message + translate (1 EVALSHA)",
                lambda i: services.gate.on_message(
                    translate.incoming(updates[i % len(updates)].message)  # type: ignore[arg-type]
                ),
            ),
            (
                "Dispatcher.feed_update (aiogram + middleware + gate)",
                lambda i: dp.feed_update(bot, updates[i % len(updates)]),
            ),
            ("  the same, sync filters called inline (no to_thread)", feed_inline),
            ("middleware bookkeeping (structlog bind, 2 metrics)", middleware_bookkeeping),
            (
                "WebhookHandler.handle (guard + feed, after parsing)",
                lambda i: handler.handle(next(handled, None) or fresh_update(i)),
            ),
            ("web.json_response({'ok': True})", lambda i: web.json_response({"ok": True})),
            ("redis GET, GMBot's client (its pool settings)", lambda i: runtime.redis.get(key)),
            ("redis GET, default client (as the bare handler)", lambda i: plain.get(key)),
            (
                "redis EVALSHA gate lookup alone",
                lambda i: services.gate._cache.lookup(groups[0], members[0]),
            ),
        ]
        results = []
        for label, step in steps:
            results.append((label, await _cpu_us(step, n)))
        with contextlib.suppress(Exception):
            await plain.delete(key)
        return results
    finally:
        await plain.aclose()
        await runtime.stop()


def render(results: list[tuple[str, float]], bare_cpu_us: float | None = None) -> str:
    lines = ["CPU per call, in-process, sequential (time.process_time over N calls, GC off)"]
    lines += [f"  {label:56}{us:8.1f} us" for label, us in results]
    if bare_cpu_us:
        lines.append(
            f"  {'(bare handler under wrk, for reference: CPU per request)':56}"
            f"{bare_cpu_us:8.1f} us"
        )
    return "\n".join(lines)
