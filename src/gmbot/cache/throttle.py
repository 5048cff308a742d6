"""Throttle over Redis: SET NX PX, so one instance among many wins each period."""

from __future__ import annotations

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.domain.ports import Throttle


class RedisThrottle(Throttle):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = CacheKeys(namespace)

    async def acquire(self, key: str, seconds: float) -> bool:
        # Milliseconds keep sub-second periods; a zero PX would be rejected by Redis.
        period_ms = max(1, round(seconds * 1000))
        return bool(await self._redis.set(self._keys.throttle(key), b"1", nx=True, px=period_ms))

    async def remaining(self, key: str) -> float:
        # PTTL: -2 no key, -1 no expiry (never set by acquire): both read as free.
        left_ms = int(await self._redis.pttl(self._keys.throttle(key)))
        return max(0, left_ms) / 1000

    async def release(self, key: str) -> None:
        await self._redis.delete(self._keys.throttle(key))
