"""Start, run and stop one instance: resources, migrations, dispatcher, server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.bot.services import Services
from gmbot.cache.redis_client import redis_pool_stats
from gmbot.config import Settings
from gmbot.container import Application
from gmbot.container.delivery import registrar_for
from gmbot.db.engine import pool_status
from gmbot.delivery.dependencies import DependencyMonitor
from gmbot.delivery.fast_path import FastPath
from gmbot.delivery.guard import UpdateGuard
from gmbot.delivery.outbox_worker import OutboxWorkers
from gmbot.delivery.periodic import Periodic
from gmbot.delivery.poison import PoisonMessages
from gmbot.delivery.polling import GuardMiddleware
from gmbot.delivery.webhook_setup import WebhookRegistrar
from gmbot.metrics import Metrics
from gmbot.web.probes import Probes
from gmbot.web.webhook import WebhookHandler

log = structlog.get_logger(__name__)

WEBHOOK_HANDLER = web.AppKey("webhook_handler", WebhookHandler)
# aiohttp closes a connection that has not sent a whole request's headers this long
# after it opened or after its previous response; trickled bytes do not extend it.
# It is the only bound aiohttp sets on slow headers (nginx in front sets the real
# one, client_header_timeout), and it must outlast nginx's upstream keepalive_timeout
# (60 s), or nginx would send a request on a connection we are closing.
KEEPALIVE_TIMEOUT = 75.0


async def resolve(provider: Callable[[], Any]) -> Any:
    """A provider's object; providers fed by async resources return awaitables."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


@dataclass
class Runtime:
    """A started instance, as start() returns it: everything it serves with."""

    settings: Settings
    container: Application
    bot: Bot
    redis: Redis
    services: Services
    dispatcher: Dispatcher
    guard: UpdateGuard
    # None sends every update through the dispatcher (the end-to-end tests compare both).
    fast_path: FastPath | None
    probes: Probes
    # Redis or the database found down: updates refused until readiness passes again.
    dependencies: DependencyMonitor
    prompt_sweep: Periodic
    poison_messages: PoisonMessages
    workers: OutboxWorkers
    raid_sweep: Periodic
    mute_reconciler: Periodic
    tasks: list[asyncio.Task[None]]

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_mode else "polling"

    def registrar(self) -> WebhookRegistrar:
        return registrar_for(self.settings, self.bot, self.redis)

    def web_app(self) -> tuple[web.Application, Probes]:
        """The aiohttp app: the probes, and POST webhook_path (its handler is
        app[WEBHOOK_HANDLER])."""
        s = self.settings
        app = web.Application(client_max_size=1 << 20)
        self.probes.install(app)
        handler = WebhookHandler(
            self.dispatcher,
            self.bot,
            self.services.metrics,
            [s.secret or ""],
            request_budget=s.request_budget,
            guard=self.guard,
            duplicate_retry_after=s.duplicate_retry_after,
            previous_secret=s.previous_secret,
            previous_allowed=self.registrar().previous_secret_allowed,
            fast_path=self.fast_path,
            poison_messages=self.poison_messages,
            dependencies=self.dependencies,
            body_timeout=s.body_timeout,
        )
        app[WEBHOOK_HANDLER] = handler
        app.router.add_post(s.webhook_path, handler.receive)
        return app, self.probes

    async def stop(self) -> None:
        self.prompt_sweep.stop()
        self.workers.stop()
        self.raid_sweep.stop()
        self.mute_reconciler.stop()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=5)
            for task in pending:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.tasks.clear()
        await _maybe_await(self.container.shutdown_resources())
        log.info("instance_stopped")


async def start(settings: Settings, container: Application) -> Runtime:
    """Migrate (with AUTO_MIGRATE), ask the Bot API who the bot is, build the rest.

    A start that fails closes what it opened."""
    try:
        return await _start(settings, container)
    except BaseException:
        await _maybe_await(container.shutdown_resources())
        raise


async def _start(settings: Settings, container: Application) -> Runtime:
    gateways, delivery = container.gateways, container.delivery
    engine: AsyncEngine = await resolve(gateways.engine)
    if settings.auto_migrate:
        from gmbot.db.migrate import upgrade

        await upgrade(engine)
    services: Services = await resolve(container.services.bundle)  # getMe happens here
    prompt_sweep: Periodic = await resolve(delivery.prompt_sweep)
    workers: OutboxWorkers = await resolve(delivery.workers)
    raid_sweep: Periodic = await resolve(delivery.raid_sweep)
    mute_reconciler: Periodic = await resolve(delivery.mute_reconciler)
    redis: Redis = await resolve(gateways.redis)
    probes: Probes = await resolve(delivery.probes)
    # The webhook's refusals and /ready share one view of the dependencies.
    dependencies = DependencyMonitor(
        probes.failing_checks, services.metrics, recheck=settings.dependency_recheck
    )
    probes.monitor = dependencies
    runtime = Runtime(
        settings=settings,
        container=container,
        bot=await resolve(gateways.bot),
        redis=redis,
        services=services,
        dispatcher=await resolve(delivery.dispatcher),
        guard=await resolve(delivery.guard),
        fast_path=await resolve(delivery.fast_path),
        probes=probes,
        dependencies=dependencies,
        prompt_sweep=prompt_sweep,
        poison_messages=await resolve(delivery.poison_messages),
        workers=workers,
        raid_sweep=raid_sweep,
        mute_reconciler=mute_reconciler,
        tasks=[asyncio.create_task(prompt_sweep.run(), name="prompt-janitor")],
    )
    if settings.outbox_workers:
        runtime.tasks += [
            asyncio.create_task(workers.run(), name="outbox-workers"),
            asyncio.create_task(raid_sweep.run(), name="raid-sweep"),
            asyncio.create_task(mute_reconciler.run(), name="mute-reconciler"),
        ]
    _register_pool_gauges(services.metrics, engine, redis)
    # Everything built so far lives as long as the process: keep it out of the
    # collector's full passes, which otherwise stall requests for tens of ms.
    gc.collect()
    gc.freeze()
    log.info("instance_started", bot=services.bot_username, mode=runtime.mode)
    return runtime


def _register_pool_gauges(metrics: Metrics, engine: AsyncEngine, redis: Redis) -> None:
    metrics.gauge_source(
        "bot_db_pool", "Database pool: size, checked_out, overflow", lambda: pool_status(engine)
    )
    metrics.gauge_source(
        "bot_redis_connections",
        "Redis pool: in_use, idle, max",
        lambda: redis_pool_stats(redis),
    )


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value


async def serve(settings: Settings, container: Application) -> None:
    """Run until SIGINT/SIGTERM, in the mode the settings select."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = await start(settings, container)
    # The command menus are a convenience: registered in the background, retried
    # while Telegram or Redis refuse, never holding up or crashing start-up.
    menus = asyncio.create_task(_register_menus(container, stop))
    try:
        if runtime.mode == "webhook":
            await _serve_webhook(runtime, stop)
        else:
            await _serve_polling(runtime, stop)
    finally:
        menus.cancel()
        await runtime.stop()


async def _register_menus(container: Application, stop: asyncio.Event) -> None:
    menus = container.services.command_menus()
    delay = 5.0
    while not await menus.register():
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return
        except TimeoutError:
            delay = min(delay * 2, 300.0)


async def _serve_webhook(runtime: Runtime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    app, probes = runtime.web_app()
    runner = web_runner(app, settings)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    await runtime.registrar().ensure()
    log.info("webhook_serving", host=settings.host, port=settings.port, url=settings.webhook_target)
    await stop.wait()
    # Fail readiness and refuse new updates (Telegram retries them elsewhere), then
    # let the ones in flight finish before the pools close.
    probes.draining = True
    app[WEBHOOK_HANDLER].draining = True
    await runner.cleanup()


def web_runner(
    app: web.Application, settings: Settings, *, keepalive_timeout: float = KEEPALIVE_TIMEOUT
) -> web.AppRunner:
    """The webhook's server: in-flight updates get the budget to finish at shutdown."""
    return web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=settings.request_budget + 5,
        keepalive_timeout=keepalive_timeout,
    )


async def _serve_polling(runtime: Runtime, stop: asyncio.Event) -> None:
    """Long polling by the one instance holding the leader lease; updates are
    claimed like webhook ones, so a leader change never handles one twice."""
    settings = runtime.settings
    await runtime.bot.delete_webhook(drop_pending_updates=False)
    await runtime.registrar().forget()
    runtime.dispatcher.update.outer_middleware(
        GuardMiddleware(
            runtime.guard,
            wait_limit=settings.update_lease + 5,
            poison_messages=runtime.poison_messages,
        )
    )
    # Updates that met Redis or the database down are left unconfirmed, fetched again
    # once readiness passes.
    leader = await resolve(
        functools.partial(runtime.container.delivery.leader, dependencies=runtime.dependencies)
    )
    await leader.run(stop)
