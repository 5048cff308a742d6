"""RedisJobLock on a real Redis: SET NX PX and the owner-only release script."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gmbot.cache.job_lock import RedisJobLock

pytestmark = pytest.mark.redis


async def test_one_of_many_holds_and_only_it_releases(redis: Redis, namespace: str) -> None:
    locks = [RedisJobLock(redis, instance_id=f"i{n}", namespace=namespace) for n in range(8)]
    tokens = await asyncio.gather(*(lock.hold("sweep", 30) for lock in locks))
    held = [(lock, t) for lock, t in zip(locks, tokens, strict=True) if t is not None]
    assert len(held) == 1
    holder, token = held[0]
    assert 29_000 < await redis.pttl(f"{namespace}job:sweep") <= 30_000
    assert not await locks[0].release("sweep", "not-the-token")
    assert await holder.release("sweep", token)
    assert await redis.exists(f"{namespace}job:sweep") == 0
