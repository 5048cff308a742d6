"""RedisMembershipCache and RedisThrottle against a real Redis."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisMembershipCache, RedisThrottle, create_redis

pytestmark = pytest.mark.redis

USER, CHANNEL = 42, -1002000000001


async def test_membership_values_and_drop(redis: Redis, namespace: str) -> None:
    members = RedisMembershipCache(redis, namespace=namespace)
    assert await members.get(USER, CHANNEL) is None
    await members.put(USER, CHANNEL, True)
    assert await members.get(USER, CHANNEL) is True
    await members.put(USER, CHANNEL, False)
    assert await members.get(USER, CHANNEL) is False
    await members.drop(USER, CHANNEL)
    assert await members.get(USER, CHANNEL) is None


async def test_joined_ttls_are_jittered_within_bounds(redis: Redis, namespace: str) -> None:
    ttl, jitter = 300, 0.2
    members = RedisMembershipCache(
        redis, ttl=ttl, jitter=jitter, namespace=namespace, rng=random.Random(7)
    )
    await asyncio.gather(*(members.put(user, CHANNEL, True) for user in range(100)))
    pipe = redis.pipeline(transaction=False)
    for user in range(100):
        pipe.pttl(f"{namespace}verify:{user}:{CHANNEL}")
    pttls = await pipe.execute()
    low, high = ttl * (1 - jitter) * 1000, ttl * (1 + jitter) * 1000
    assert all(low - 1000 <= p <= high for p in pttls), (min(pttls), max(pttls))
    assert max(pttls) - min(pttls) > (high - low) * 0.8


async def test_not_joined_ttl_is_short(redis: Redis, namespace: str) -> None:
    members = RedisMembershipCache(redis, ttl=600, negative_ttl=20, namespace=namespace)
    await members.put(USER, CHANNEL, False)
    assert 19_000 < await redis.pttl(f"{namespace}verify:{USER}:{CHANNEL}") <= 20_000


async def test_throttle(redis: Redis, namespace: str) -> None:
    throttle = RedisThrottle(redis, namespace=namespace)
    assert await throttle.acquire("k", 0.2)
    assert not await throttle.acquire("k", 0.2)
    assert 100 < await redis.pttl(f"{namespace}throttle:k") <= 200
    await throttle.release("k")
    assert await throttle.acquire("k", 0.1)
    await asyncio.sleep(0.15)
    assert await throttle.acquire("k", 0.1)


async def test_throttle_remaining(redis: Redis, namespace: str) -> None:
    throttle = RedisThrottle(redis, namespace=namespace)
    assert await throttle.remaining("k") == 0.0
    assert await throttle.acquire("k", 2)
    assert 1.9 < await throttle.remaining("k") <= 2.0
    await throttle.release("k")
    assert await throttle.remaining("k") == 0.0


async def test_throttle_has_one_winner_among_instances(
    redis: Redis, redis_url: str, namespace: str
) -> None:
    clients = [create_redis(redis_url, max_connections=2)[0] for _ in range(20)]
    try:
        throttles = [RedisThrottle(c, namespace=namespace) for c in clients]
        results = await asyncio.gather(*(t.acquire("k", 30) for t in throttles))
        assert sorted(results) == [False] * 19 + [True]
    finally:
        for client in clients:
            await client.aclose()
