"""RedisRateLimiter against a real Redis: the contract, and two instances sharing buckets."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from gmbot.cache import create_redis
from gmbot.cache.rate_limiter import RateLimits, RedisRateLimiter
from gmbot.domain.actions import Priority
from tests.unit.cache.rate_limiter_contract import RateLimiterContract


@pytest.mark.redis
class TestRedisRateLimiter(RateLimiterContract):
    pass


@pytest.mark.redis
async def test_two_instances_share_one_bucket(redis: Redis, redis_url: str, namespace: str) -> None:
    limits = RateLimits(writes_burst=5, writes_per_second=20.0)
    other, _ = create_redis(redis_url, max_connections=5)  # the second instance's own client
    instances = [
        RedisRateLimiter(redis, limits, namespace=namespace),
        RedisRateLimiter(other, limits, namespace=namespace),
    ]
    granted = [0, 0]

    async def hammer(index: int, until: float) -> None:
        while time.monotonic() < until:
            if await instances[index].acquire(["writes"], Priority.DELETE) == 0:
                granted[index] += 1
            await asyncio.sleep(0.002)

    try:
        start = time.monotonic()
        await asyncio.gather(*(hammer(i, start + 1.0) for i in (0, 1) for _ in range(3)))
        elapsed = time.monotonic() - start
    finally:
        await other.aclose()
    total = sum(granted)
    # Never more than the burst plus the refill, whoever asks; and both got their share.
    assert total <= 5 + 20 * elapsed + 1
    assert total >= 5 + 20 * 0.8
    assert min(granted) > 0
