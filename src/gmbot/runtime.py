"""Start, run and stop one instance: resources, migrations, dispatcher, server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiohttp import web
from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.bot.dispatcher import ALLOWED_UPDATES, build_dispatcher
from gmbot.bot.services import Services
from gmbot.cache.redis_client import redis_pool_stats
from gmbot.config import ConfigError, Settings
from gmbot.container import Container
from gmbot.db.engine import pool_status
from gmbot.delivery.fast_path import FastPath
from gmbot.delivery.guard import UpdateGuard
from gmbot.delivery.polling import GuardMiddleware, LeaderPolling
from gmbot.delivery.webhook_setup import WebhookRegistrar, webhook_config
from gmbot.domain.models import AuditEntry, AuditKind
from gmbot.domain.ports import HealthProbe, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import TelegramError
from gmbot.services.janitor import PromptJanitor
from gmbot.web.probes import Probes
from gmbot.web.webhook import WebhookHandler

log = structlog.get_logger(__name__)


async def resolve(provider: Callable[[], Any]) -> Any:
    """A provider's object; providers fed by async resources return awaitables."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


@dataclass
class Runtime:
    settings: Settings
    container: Container
    bot: Bot | None = None
    dispatcher: Dispatcher | None = None
    services: Services | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _uow: UnitOfWorkFactory = field(init=False)
    _redis_health: HealthProbe = field(init=False)
    _janitor: PromptJanitor | None = None
    redis: Any = None
    guard: UpdateGuard | None = None
    webhook_handler: WebhookHandler | None = None
    fast_path: FastPath | None = None

    async def start(self) -> None:
        c = self.container
        await _maybe_await(c.init_resources())
        if self.settings.auto_migrate:
            from gmbot.db.migrate import upgrade

            await upgrade(await resolve(c.engine))
        telegram: TelegramGateway = await resolve(c.telegram)
        try:
            me = await telegram.get_me()
        except TelegramError as err:
            raise ConfigError(
                f"the Bot API at {self.settings.telegram_api_url} refused the token or did "
                f"not answer ({err.description}); check BOT_TOKEN and TELEGRAM_API_URL"
            ) from None
        c.bot_username.override(providers.Object(me.username))
        self.bot = await resolve(c.bot)
        self.services = await resolve(c.services)
        self.dispatcher = build_dispatcher(self.services)
        self._uow = await resolve(c.uow)
        self._redis_health = await resolve(c.redis_health)
        self._janitor = await resolve(c.janitor)
        self._tasks.append(asyncio.create_task(self._janitor.run(), name="prompt-janitor"))
        self.redis = await resolve(c.redis)
        self.guard = UpdateGuard(
            await resolve(c.update_claims),
            self.services.metrics,
            max_attempts=self.settings.update_max_attempts,
            on_poison=self._audit_poison,
        )
        self.fast_path = FastPath(
            await resolve(c.gate_claims), self.services.gate, self.guard, self.services.metrics
        )
        self._register_pool_gauges(await resolve(c.engine))
        # Everything built so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall requests for tens of ms.
        gc.collect()
        gc.freeze()
        log.info("instance_started", bot=me.username, mode=self.mode)

    async def _audit_poison(self, update_id: int, attempts: int, chat_id: int | None) -> None:
        async with self._uow() as uow:
            await uow.audit.add(
                AuditEntry(
                    AuditKind.POISON_UPDATE,
                    chat_id or 0,
                    detail=f"update_id={update_id} attempts={attempts}",
                )
            )
            await uow.commit()

    def _register_pool_gauges(self, engine: AsyncEngine) -> None:
        assert self.services is not None
        metrics = self.services.metrics
        redis = self.redis
        metrics.gauge_source(
            "bot_db_pool", "Database pool: size, checked_out, overflow", lambda: pool_status(engine)
        )
        metrics.gauge_source(
            "bot_redis_connections",
            "Redis pool: in_use, idle, max",
            lambda: redis_pool_stats(redis),
        )

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_mode else "polling"

    async def stop(self) -> None:
        if self._janitor is not None:
            self._janitor.stop()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        await _maybe_await(self.container.shutdown_resources())
        log.info("instance_stopped")

    def probes(self) -> Probes:
        assert self.services is not None
        telegram = self.services.telegram

        def api() -> dict[str, object]:
            status = getattr(telegram, "status", None)
            return status() if callable(status) else {}

        return Probes(
            self.settings.instance_id,
            self.services.metrics,
            {"database": self._uow.ping, "redis": self._redis_health.ping},
            {"telegram": api},
        )

    def web_app(self) -> tuple[web.Application, Probes]:
        assert self.dispatcher
        assert self.bot
        assert self.services
        app = web.Application(client_max_size=1 << 20)
        probes = self.probes()
        probes.install(app)
        handler = WebhookHandler(
            self.dispatcher,
            self.bot,
            self.services.metrics,
            [self.settings.secret or ""],
            request_budget=self.settings.request_budget,
            guard=self.guard,
            duplicate_retry_after=self.settings.duplicate_retry_after,
            previous_secret=self.settings.previous_secret,
            previous_allowed=self.registrar().previous_secret_allowed,
            fast_path=self.fast_path,
        )
        self.webhook_handler = handler
        app.router.add_post(self.settings.webhook_path, handler.receive)
        return app, probes

    def registrar(self) -> WebhookRegistrar:
        assert self.bot is not None
        s = self.settings
        config = webhook_config(
            s.webhook_target if s.webhook_url else "",
            s.secret or "",
            ALLOWED_UPDATES,
            s.webhook_max_connections,
        )
        return WebhookRegistrar(self.bot, self.redis, config, namespace=s.redis_namespace)


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value


async def serve(settings: Settings, container: Container) -> None:
    """Run until SIGINT/SIGTERM, in the mode the settings select."""
    runtime = Runtime(settings, container)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    try:
        if runtime.mode == "webhook":
            await _serve_webhook(runtime, stop)
        else:
            await _serve_polling(runtime, stop)
    finally:
        await runtime.stop()


async def _serve_webhook(runtime: Runtime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    assert runtime.bot is not None
    app, probes = runtime.web_app()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.request_budget + 5)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    await runtime.registrar().ensure()
    log.info("webhook_serving", host=settings.host, port=settings.port, url=settings.webhook_target)
    await stop.wait()
    # Fail readiness and refuse new updates (Telegram retries them elsewhere), then
    # let the ones in flight finish before the pools close.
    probes.draining = True
    if runtime.webhook_handler is not None:
        runtime.webhook_handler.draining = True
    await runner.cleanup()


async def _serve_polling(runtime: Runtime, stop: asyncio.Event) -> None:
    """Long polling by the one instance holding the leader lease; updates are
    claimed like webhook ones, so a leader change never handles one twice."""
    assert runtime.bot is not None
    assert runtime.dispatcher is not None
    assert runtime.guard is not None
    assert runtime.services is not None
    settings = runtime.settings
    await runtime.bot.delete_webhook(drop_pending_updates=False)
    await runtime.registrar().forget()
    runtime.dispatcher.update.outer_middleware(
        GuardMiddleware(runtime.guard, wait_limit=settings.update_lease + 5)
    )
    leader = LeaderPolling(
        runtime.dispatcher,
        runtime.bot,
        await resolve(runtime.container.leader_lease),
        runtime.services.metrics,
        lease_seconds=settings.leader_lease,
        allowed_updates=ALLOWED_UPDATES,
    )
    await leader.run(stop)
