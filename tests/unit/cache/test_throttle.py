"""RedisThrottle on fakeredis."""

from __future__ import annotations

import asyncio

import fakeredis
from redis.asyncio import Redis

from gmbot.cache import RedisThrottle


async def test_first_caller_wins_until_release(redis: Redis) -> None:
    throttle = RedisThrottle(redis, namespace="t:")
    assert await throttle.acquire("notify:1", 60)
    assert not await throttle.acquire("notify:1", 60)
    assert await throttle.acquire("notify:2", 60)
    await throttle.release("notify:1")
    assert await throttle.acquire("notify:1", 60)


async def test_key_and_period(redis: Redis) -> None:
    await RedisThrottle(redis, namespace="t:").acquire("k", 2.5)
    assert 2_400 < await redis.pttl("t:throttle:k") <= 2_500


async def test_period_expires(redis: Redis) -> None:
    throttle = RedisThrottle(redis, namespace="t:")
    assert await throttle.acquire("k", 0.05)
    assert not await throttle.acquire("k", 0.05)
    await asyncio.sleep(0.08)
    assert await throttle.acquire("k", 0.05)


async def test_remaining_is_the_rest_of_the_period(redis: Redis) -> None:
    throttle = RedisThrottle(redis, namespace="t:")
    assert await throttle.remaining("k") == 0.0
    await throttle.acquire("k", 2.5)
    assert 2.4 < await throttle.remaining("k") <= 2.5
    await redis.persist("t:throttle:k")  # no expiry (never set so): read as free
    assert await throttle.remaining("k") == 0.0


async def test_tiny_period_is_still_a_valid_command(redis: Redis) -> None:
    assert await RedisThrottle(redis, namespace="t:").acquire("k", 0.0001)


async def test_one_winner_among_instances(server: fakeredis.FakeServer) -> None:
    clients = [fakeredis.FakeAsyncRedis(server=server) for _ in range(20)]
    throttles = [RedisThrottle(c, namespace="t:") for c in clients]
    results = await asyncio.gather(*(t.acquire("k", 60) for t in throttles))
    assert sorted(results) == [False] * 19 + [True]
    for client in clients:
        await client.aclose()
