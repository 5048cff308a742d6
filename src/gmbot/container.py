"""The composition root: everything is built here from Settings, at start-up.

Tests swap PostgreSQL, Redis or Telegram for fakes by overriding one provider
(`engine`/`uow`, `redis`, `bot`/`telegram`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from dependency_injector import containers, providers
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.bot.services import Services
from gmbot.cache.backoff import RedisBackoff
from gmbot.cache.gate_cache import RedisGateCache
from gmbot.cache.gate_claims import RedisGateClaims
from gmbot.cache.health import RedisHealth
from gmbot.cache.leader import RedisLeaderLease
from gmbot.cache.membership_cache import RedisMembershipCache
from gmbot.cache.prompt_store import RedisPromptStore
from gmbot.cache.redis_client import create_redis
from gmbot.cache.throttle import RedisThrottle
from gmbot.cache.update_claims import RedisUpdateClaims
from gmbot.clock import utc_now
from gmbot.config import FailMode, Settings
from gmbot.db.engine import create_engine
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.metrics import Metrics
from gmbot.services.admin_check import AdminCheck
from gmbot.services.chat_events import ChatEventsService
from gmbot.services.directory import GroupDirectory
from gmbot.services.gate import GatePolicy, GateService
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.janitor import PromptJanitor
from gmbot.services.membership import MembershipChecker
from gmbot.services.muting import MuteService
from gmbot.services.notifier import AdminNotifier
from gmbot.services.private import PrivateService
from gmbot.services.protection import ProtectionService
from gmbot.services.verification import VerificationService
from gmbot.telegram.gateway import AiogramGateway


async def engine_resource(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        application_name=f"gmbot:{settings.instance_id}"[:63],
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def redis_resource(settings: Settings) -> AsyncIterator[Redis]:
    client, _embedded = create_redis(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        namespace_hint=settings.instance_id,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def bot_resource(settings: Settings) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(settings.token, session=session, default=DefaultBotProperties(parse_mode=None))
    try:
        yield bot
    finally:
        await bot.session.close()


def bot_id_from(settings: Settings) -> int:
    return int(settings.token.partition(":")[0] or 0)


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Object(utc_now)
    metrics = providers.Singleton(Metrics, instance_id=settings.provided.instance_id)

    # ---- gateways (each can be overridden with a fake)
    engine = providers.Resource(engine_resource, settings)
    redis = providers.Resource(redis_resource, settings)
    bot = providers.Resource(bot_resource, settings)

    uow = providers.Singleton(SqlUnitOfWorkFactory, engine)
    backoff = providers.Singleton(RedisBackoff, redis, namespace=settings.provided.redis_namespace)
    telegram = providers.Singleton(AiogramGateway, bot, metrics, backoff)
    # Both claim the update_id; the second also looks up the gate in the same script.
    _claims = {
        "lease_seconds": settings.provided.update_lease,
        "done_ttl": settings.provided.update_done_ttl,
        "namespace": settings.provided.redis_namespace,
        "instance_id": settings.provided.instance_id,
    }
    update_claims = providers.Singleton(RedisUpdateClaims, redis, **_claims)
    gate_claims = providers.Singleton(RedisGateClaims, redis, **_claims)
    leader_lease = providers.Singleton(
        RedisLeaderLease,
        redis,
        lease_seconds=settings.provided.leader_lease,
        instance_id=settings.provided.instance_id,
        namespace=settings.provided.redis_namespace,
    )
    gate_cache = providers.Singleton(
        RedisGateCache, redis, namespace=settings.provided.redis_namespace
    )
    membership_cache = providers.Singleton(
        RedisMembershipCache,
        redis,
        ttl=settings.provided.verify_cache_ttl,
        jitter=settings.provided.verify_cache_jitter,
        negative_ttl=settings.provided.negative_cache_ttl,
        namespace=settings.provided.redis_namespace,
    )
    throttle = providers.Singleton(
        RedisThrottle, redis, namespace=settings.provided.redis_namespace
    )
    prompts = providers.Singleton(
        RedisPromptStore, redis, namespace=settings.provided.redis_namespace
    )
    redis_health = providers.Singleton(RedisHealth, redis)

    # ---- services
    bot_username = providers.Object("")  # overridden with getMe's answer at start-up
    bot_id = providers.Callable(bot_id_from, settings)
    gate_policy = providers.Callable(
        lambda s: GatePolicy(fail_open=s.fail_mode is FailMode.OPEN), settings
    )
    directory = providers.Singleton(
        GroupDirectory,
        uow,
        gate_cache,
        telegram,
        metrics,
        group_ttl=settings.provided.group_cache_ttl,
        admin_ttl=settings.provided.admin_cache_ttl,
    )
    checker = providers.Singleton(MembershipChecker, telegram, membership_cache, throttle, metrics)
    notifier = providers.Singleton(AdminNotifier, uow, telegram, throttle)
    muter = providers.Singleton(MuteService, uow, telegram, prompts, metrics, clock)
    gate = providers.Singleton(
        GateService,
        gate_cache,
        directory,
        checker,
        muter,
        prompts,
        notifier,
        telegram,
        uow,
        metrics,
        gate_policy,
    )
    protection = providers.Singleton(
        ProtectionService, uow, telegram, directory, muter, bot_id.provider, clock
    )
    group_admin = providers.Singleton(
        GroupAdminService, uow, telegram, directory, protection, bot_id.provider, clock
    )
    verification = providers.Singleton(
        VerificationService,
        uow,
        directory,
        checker,
        membership_cache,
        muter,
        throttle,
        metrics,
        recheck_interval=settings.provided.recheck_interval,
    )
    chat_events = providers.Singleton(ChatEventsService, uow, directory, verification, notifier)
    private = providers.Singleton(PrivateService, uow, clock)
    admin_check = providers.Singleton(AdminCheck, telegram, settings.provided.owner_ids)
    janitor = providers.Singleton(PromptJanitor, prompts, telegram)

    services = providers.Singleton(
        Services,
        gate=gate,
        protection=protection,
        group_admin=group_admin,
        verification=verification,
        chat_events=chat_events,
        private=private,
        admin_check=admin_check,
        telegram=telegram,
        metrics=metrics,
        bot_username=bot_username,
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
