"""Readiness probe for Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from gmbot.domain.ports import HealthProbe


class RedisHealth(HealthProbe):
    def __init__(self, redis: Redis, *, timeout: float = 2.0) -> None:
        self._redis = redis
        self._timeout = timeout

    async def ping(self) -> None:
        # Bounded on its own: a probe that hangs on a saturated pool tells nothing.
        async with asyncio.timeout(self._timeout):
            if not await self._redis.ping():
                raise ConnectionError("Redis did not answer PING")
