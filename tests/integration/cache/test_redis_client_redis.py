"""create_redis against a real Redis: the pool bound, and several instances sharing it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gmbot.cache import (
    RedisGateCache,
    RedisHealth,
    RedisMembershipCache,
    RedisPromptStore,
    RedisThrottle,
    create_redis,
    redis_pool_stats,
)
from gmbot.cache.redis_client import client_name
from gmbot.domain.models import LinkedChannel, ProtectedGroup
from gmbot.domain.ports import GateState

pytestmark = pytest.mark.redis

CHAT, USER, CHANNEL = -1001, 42, -1002000000001


async def named_connections(observer: Redis, name: str) -> int:
    return sum(1 for client in await observer.client_list() if client.get("name") == name)


async def test_pool_never_exceeds_max_connections(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    limit = 5
    hint = f"{namespace}pool"  # the `redis` fixture's connections carry `namespace`
    client, _ = create_redis(redis_url, max_connections=limit, namespace_hint=hint, pool_timeout=10)
    name = client_name(hint)
    peak_in_use = peak_on_server = 0
    running = True

    async def call(n: int) -> None:
        # BLPOP on an empty list holds its connection ~10 ms, so the burst really queues.
        await client.blpop([f"{namespace}empty:{n}"], timeout=0.01)

    async def watch() -> None:
        nonlocal peak_in_use, peak_on_server
        while running:
            peak_in_use = max(peak_in_use, redis_pool_stats(client)["in_use"])
            peak_on_server = max(peak_on_server, await named_connections(redis, name))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(call(n) for n in range(200)))
    finally:
        running = False
        await watcher
    try:
        assert peak_in_use == limit  # the burst saturated the pool ...
        assert 1 <= peak_on_server <= limit  # ... and never opened more
        assert await named_connections(redis, name) <= limit
        stats = redis_pool_stats(client)
        assert stats["max"] == limit
        assert stats["in_use"] == 0
        assert stats["in_use"] + stats["idle"] <= limit
    finally:
        await client.aclose()


async def test_instances_see_each_others_writes(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    (a, _), (b, _) = (create_redis(redis_url, max_connections=4) for _ in range(2))
    try:
        group = ProtectedGroup(
            chat_id=CHAT,
            title="g",
            protected_by=None,
            protected_at=datetime(2024, 1, 1, tzinfo=UTC),
            channels=(LinkedChannel(CHANNEL, "c"),),
        )
        gate_a, gate_b = (RedisGateCache(c, namespace=namespace) for c in (a, b))
        members_a, members_b = (RedisMembershipCache(c, namespace=namespace) for c in (a, b))

        await gate_a.put_group(CHAT, group, [], 60)
        await gate_a.put_admins(CHAT, [], 60)
        await members_a.put(USER, CHANNEL, True)
        assert (await gate_b.lookup(CHAT, USER)).state is GateState.VERIFIED
        assert await gate_b.get_group(CHAT) == (True, group)

        await members_b.drop(USER, CHANNEL)
        assert (await gate_a.lookup(CHAT, USER)).state is GateState.CHECK
        await gate_b.drop_group(CHAT)
        assert (await gate_a.lookup(CHAT, USER)).state is GateState.GROUP_UNKNOWN

        assert await RedisThrottle(a, namespace=namespace).acquire("k", 30)
        assert not await RedisThrottle(b, namespace=namespace).acquire("k", 30)

        prompts_a, prompts_b = (RedisPromptStore(c, namespace=namespace) for c in (a, b))
        assert await prompts_a.claim(CHAT, USER, 30)
        assert not await prompts_b.claim(CHAT, USER, 30)
        await prompts_a.attach(CHAT, USER, 5, 30)
        assert await prompts_b.clear(CHAT, USER) == 5
    finally:
        await a.aclose()
        await b.aclose()


async def test_health_ping(redis: Redis) -> None:
    await RedisHealth(redis).ping()


async def test_a_connection_the_server_closed_is_retried_once(redis: Redis, redis_url: str) -> None:
    """After Redis restarts (or drops idle clients), each pooled connection fails once on
    its next command: redis-py reconnects and resends it, so no caller sees the error."""
    client, _ = create_redis(redis_url, max_connections=3, namespace_hint="retry-test")
    try:
        assert await client.ping()
        name = client_name("retry-test")
        # What a restart does to every pooled connection: the server closes it.
        for info in await redis.client_list():
            if info.get("name") == name:
                await redis.client_kill_filter(_id=info["id"])
        assert await client.set("retry-test:key", "1", ex=10)
        assert await client.get("retry-test:key") == b"1"
    finally:
        await redis.delete("retry-test:key")
        await client.aclose()


async def test_a_timed_out_command_is_not_resent(redis_url: str) -> None:
    client, _ = create_redis(redis_url, max_connections=1)
    try:
        connection = client.connection_pool.make_connection()
        assert connection.retry.get_retries() == 1
        assert connection.retry._supported_errors == (RedisConnectionError,)
        assert not connection.retry_on_timeout
    finally:
        await client.aclose()
