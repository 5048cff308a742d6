"""How updates reach the services: dispatcher, update guard, fast path, webhook
registration, leader polling and the probes."""

from __future__ import annotations

from dataclasses import replace

from aiogram import Bot
from dependency_injector import containers, providers
from redis.asyncio import Redis

from gmbot.bot.dispatcher import ALLOWED_UPDATES, build_dispatcher
from gmbot.config import Settings
from gmbot.delivery.fast_path import FastPath
from gmbot.delivery.guard import UpdateGuard
from gmbot.delivery.outbox_worker import LANES, Lane, OutboxWorkers
from gmbot.delivery.periodic import Periodic
from gmbot.delivery.poison import PoisonMessages
from gmbot.delivery.polling import LeaderPolling
from gmbot.delivery.webhook_setup import WebhookRegistrar, webhook_config
from gmbot.domain.models import AuditEntry, AuditKind
from gmbot.domain.ports import HealthProbe, TelegramGateway, UnitOfWorkFactory
from gmbot.metrics import Metrics
from gmbot.web.probes import Probes


class PoisonAudit:
    """Records an update given up on after too many attempts, for the group's audit log."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, update_id: int, attempts: int, chat_id: int | None) -> None:
        async with self._uow() as uow:
            await uow.audit.add(
                AuditEntry(
                    AuditKind.POISON_UPDATE,
                    chat_id or 0,
                    detail=f"update_id={update_id} attempts={attempts}",
                )
            )
            await uow.commit()


def lanes_for(settings: Settings) -> tuple[Lane, ...]:
    return tuple(
        replace(lane, gather=settings.delete_gather) if lane.gather else lane for lane in LANES
    )


def registrar_for(settings: Settings, bot: Bot, redis: Redis) -> WebhookRegistrar:
    config = webhook_config(
        settings.webhook_target if settings.webhook_url else "",
        settings.secret or "",
        ALLOWED_UPDATES,
        settings.webhook_max_connections,
    )
    return WebhookRegistrar(bot, redis, config, namespace=settings.redis_namespace)


def probes_for(
    settings: Settings,
    metrics: Metrics,
    uow: UnitOfWorkFactory,
    redis: HealthProbe,
    telegram: TelegramGateway,
) -> Probes:
    def api() -> dict[str, object]:
        # The aiogram gateway reports its backoff state; a fake has none.
        status = getattr(telegram, "status", None)
        return status() if callable(status) else {}

    return Probes(
        settings.instance_id,
        metrics,
        {"database": uow.ping, "redis": redis.ping},
        {"telegram": api},
    )


class Delivery(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    metrics = providers.Dependency(instance_of=Metrics)
    gateways = providers.DependenciesContainer()
    services = providers.DependenciesContainer()

    dispatcher = providers.Singleton(build_dispatcher, services.bundle)
    guard = providers.Singleton(
        UpdateGuard,
        gateways.update_claims,
        metrics,
        max_attempts=settings.provided.update_max_attempts,
        on_poison=providers.Factory(PoisonAudit, gateways.uow),
    )
    poison_messages = providers.Singleton(PoisonMessages, services.gate)
    fast_path = providers.Singleton(FastPath, gateways.gate_claims, services.gate, guard, metrics)
    workers = providers.Singleton(
        OutboxWorkers,
        gateways.outbox,
        services.runner,
        settings.provided.instance_id,
        lanes=providers.Callable(lanes_for, settings),
        heartbeat=providers.Callable(lambda s: s.outbox_claim_after / 3, settings),
        claim_after=settings.provided.outbox_claim_after,
    )
    prompt_sweep = providers.Singleton(
        Periodic, "prompt-janitor", services.janitor.provided.sweep, interval=1.0
    )
    raid_sweep = providers.Singleton(
        Periodic, "raid-sweep", services.prompting.provided.sweep, interval=1.0
    )
    # Every instance ticks; the reconciler's job lock lets one of them sweep.
    mute_reconciler = providers.Singleton(
        Periodic,
        "mute-reconciler",
        services.reconciler.provided.sweep,
        interval=settings.provided.reconcile_interval,
    )
    probes = providers.Singleton(
        probes_for, settings, metrics, gateways.uow, gateways.redis_health, gateways.telegram
    )
    # A new registrar each time, as each knows only what it saw registered itself.
    registrar = providers.Factory(registrar_for, settings, gateways.bot, gateways.redis)
    leader = providers.Factory(
        LeaderPolling,
        dispatcher,
        gateways.bot,
        gateways.leader_lease,
        metrics,
        lease_seconds=settings.provided.leader_lease,
        allowed_updates=ALLOWED_UPDATES,
    )
