"""Everything outside the process: PostgreSQL, Redis, the Bot API, and time.

Each provider is what a port (gmbot.domain.ports) or a delivery part needs; tests
swap them for fakes with `container.gateways.override(...)`.
"""

from __future__ import annotations

import time

from dependency_injector import containers, providers

from gmbot.cache.gate_cache import RedisGateCache
from gmbot.cache.gate_claims import RedisGateClaims
from gmbot.cache.health import RedisHealth
from gmbot.cache.job_lock import RedisJobLock
from gmbot.cache.leader import RedisLeaderLease
from gmbot.cache.membership_cache import RedisMembershipCache
from gmbot.cache.menu_store import RedisMenuStore
from gmbot.cache.outbox import RedisOutbox
from gmbot.cache.pending_inputs import RedisPendingInputs
from gmbot.cache.prompt_store import RedisPromptStore
from gmbot.cache.raid_watch import RedisRaidWatch
from gmbot.cache.rate_limiter import RateLimits, RedisRateLimiter
from gmbot.cache.throttle import RedisThrottle
from gmbot.cache.update_claims import RedisUpdateClaims
from gmbot.cache.warnings import RedisWarningStore
from gmbot.clock import utc_now
from gmbot.config import Settings
from gmbot.container.resources import (
    Pools,
    bot_resource,
    engine_resource,
    identity_resource,
    redis_resource,
)
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import AiogramGateway


class Gateways(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    pools = providers.Dependency(instance_of=Pools)
    metrics = providers.Dependency(instance_of=Metrics)

    clock = providers.Object(utc_now)  # datetimes, for what is stored
    wall_seconds = providers.Object(time.time)  # epoch seconds, for deadlines

    engine = providers.Resource(engine_resource, settings, pools)
    redis = providers.Resource(redis_resource, settings, pools)
    bot = providers.Resource(bot_resource, settings)

    uow = providers.Singleton(SqlUnitOfWorkFactory, engine)
    rate_limiter = providers.Singleton(
        RedisRateLimiter,
        redis,
        providers.Callable(RateLimits.from_settings, settings),
        namespace=settings.provided.redis_namespace,
    )
    telegram = providers.Singleton(
        AiogramGateway,
        bot,
        metrics,
        rate_limiter,
        call_timeout=settings.provided.telegram_timeout,
    )
    identity = providers.Resource(identity_resource, settings, telegram)

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
    outbox = providers.Singleton(
        RedisOutbox,
        redis,
        namespace=settings.provided.redis_namespace,
        key_ttl=settings.provided.outbox_key_ttl,
        claim_after_ms=providers.Callable(
            lambda seconds: int(seconds * 1000), settings.provided.outbox_claim_after
        ),
        clock=wall_seconds,  # due times (retries, verification timeouts) on the wall clock
    )
    raid_watch = providers.Singleton(
        RedisRaidWatch, redis, namespace=settings.provided.redis_namespace
    )
    warnings = providers.Singleton(
        RedisWarningStore, redis, namespace=settings.provided.redis_namespace
    )
    redis_health = providers.Singleton(RedisHealth, redis)
    pending_inputs = providers.Singleton(
        RedisPendingInputs, redis, namespace=settings.provided.redis_namespace
    )
    menu_store = providers.Singleton(
        RedisMenuStore, redis, namespace=settings.provided.redis_namespace
    )
    job_lock = providers.Singleton(
        RedisJobLock,
        redis,
        instance_id=settings.provided.instance_id,
        namespace=settings.provided.redis_namespace,
    )
