"""The last registered command menus' hash, one Redis key shared by the fleet."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gmbot.cache.keys import DEFAULT_NAMESPACE
from gmbot.domain.ports import CacheUnavailable, MenuStore


class RedisMenuStore(MenuStore):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._key = f"{namespace}:command_menus"

    async def registered(self) -> str | None:
        try:
            value = await self._redis.get(self._key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def remember(self, digest: str) -> None:
        try:
            await self._redis.set(self._key, digest)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
