"""WarningStore over Redis: warn:{chat_id}:{user_id} is a set of offence message ids.

A set, not a counter: recording the same message twice (a redelivered update, a
retried action) leaves the count unchanged.
"""

from __future__ import annotations

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE
from gmbot.domain.ports import WarningStore

WARNING_TTL = 30 * 24 * 3600  # warnings lapse a month after the latest offence


class RedisWarningStore(WarningStore):
    def __init__(
        self, redis: Redis, *, ttl: int = WARNING_TTL, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._redis = redis
        self._ttl = ttl
        self._prefix = f"{namespace}warn:"

    def _key(self, chat_id: int, user_id: int) -> str:
        return f"{self._prefix}{chat_id}:{user_id}"

    async def record(self, chat_id: int, user_id: int, message_id: int) -> int:
        key = self._key(chat_id, user_id)
        # One round trip, atomic: add, refresh the lifetime, read the count.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, str(message_id))
            pipe.expire(key, self._ttl)
            pipe.scard(key)
            _, _, count = await pipe.execute()
        return int(count)

    async def count(self, chat_id: int, user_id: int) -> int:
        return int(await self._redis.scard(self._key(chat_id, user_id)))

    async def reset(self, chat_id: int, user_id: int) -> None:
        await self._redis.delete(self._key(chat_id, user_id))
