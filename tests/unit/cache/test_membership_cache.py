"""RedisMembershipCache on fakeredis: values, jittered TTLs, the short negative TTL."""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisMembershipCache

USER, CHANNEL = 42, -1002000000001


def cache(redis: Redis, **settings: Any) -> RedisMembershipCache:
    return RedisMembershipCache(redis, namespace="t:", **settings)


async def test_get_put_drop(redis: Redis) -> None:
    members = cache(redis)
    assert await members.get(USER, CHANNEL) is None
    await members.put(USER, CHANNEL, True)
    assert await members.get(USER, CHANNEL) is True
    assert await members.get(USER + 1, CHANNEL) is None
    await members.put(USER, CHANNEL, False)
    assert await members.get(USER, CHANNEL) is False
    await members.drop(USER, CHANNEL)
    assert await members.get(USER, CHANNEL) is None


async def test_key_is_the_documented_verify_key(redis: Redis) -> None:
    await cache(redis).put(USER, CHANNEL, True)
    assert await redis.get(f"t:verify:{USER}:{CHANNEL}") == b"1"
    await cache(redis).put(USER, CHANNEL, False)
    assert await redis.get(f"t:verify:{USER}:{CHANNEL}") == b"0"


async def test_joined_ttls_are_jittered_within_bounds(redis: Redis) -> None:
    ttl, jitter = 600, 0.15
    members = cache(redis, ttl=ttl, jitter=jitter, rng=random.Random(1234))
    for user in range(200):
        await members.put(user, CHANNEL, True)
    pttls = [await redis.pttl(f"t:verify:{user}:{CHANNEL}") for user in range(200)]
    low, high = ttl * (1 - jitter) * 1000, ttl * (1 + jitter) * 1000
    slack = 1000  # the clock runs while the entries are read back
    assert all(low - slack <= p <= high for p in pttls), (min(pttls), max(pttls))
    # Spread over most of the window, not bunched around one value.
    assert max(pttls) - min(pttls) > (high - low) * 0.8
    assert len(set(pttls)) > 150


async def test_zero_jitter_gives_the_exact_ttl(redis: Redis) -> None:
    await cache(redis, ttl=100, jitter=0).put(USER, CHANNEL, True)
    assert 99_000 < await redis.pttl(f"t:verify:{USER}:{CHANNEL}") <= 100_000


async def test_not_joined_uses_the_short_negative_ttl(redis: Redis) -> None:
    await cache(redis, ttl=600, negative_ttl=30).put(USER, CHANNEL, False)
    assert 29_000 < await redis.pttl(f"t:verify:{USER}:{CHANNEL}") <= 30_000


async def test_joined_replaces_not_joined_and_its_ttl(redis: Redis) -> None:
    members = cache(redis, ttl=600, jitter=0, negative_ttl=30)
    await members.put(USER, CHANNEL, False)
    await members.put(USER, CHANNEL, True)
    assert await redis.pttl(f"t:verify:{USER}:{CHANNEL}") > 500_000


@pytest.mark.parametrize(
    "settings", [{"ttl": 0}, {"negative_ttl": -1}, {"jitter": 1.0}, {"jitter": -0.1}]
)
def test_rejects_nonsense_settings(redis: Redis, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        cache(redis, **settings)
