"""MembershipCache over Redis: verify:{user_id}:{channel_id} = "1" | "0"."""

from __future__ import annotations

import random

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.domain.ports import MembershipCache


class RedisMembershipCache(MembershipCache):
    """Joined results live `ttl` seconds +/- `jitter` (relative); not-joined ones
    `negative_ttl` seconds, so a non-member posting repeatedly costs one Bot API call
    per period rather than one per message.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        ttl: int = 600,
        jitter: float = 0.15,
        negative_ttl: int = 30,
        namespace: str = DEFAULT_NAMESPACE,
        rng: random.Random | None = None,
    ) -> None:
        if ttl <= 0 or negative_ttl <= 0:
            raise ValueError("ttl and negative_ttl must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self._redis = redis
        self._keys = CacheKeys(namespace)
        self._ttl_ms = ttl * 1000
        self._jitter = jitter
        self._negative_ttl_ms = negative_ttl * 1000
        self._rng = rng or random.Random()

    async def get(self, user_id: int, channel_id: int) -> bool | None:
        value = await self._redis.get(self._keys.verify(user_id, channel_id))
        if value is None:
            return None
        return value in (b"1", "1")

    async def put(self, user_id: int, channel_id: int, subscribed: bool) -> None:
        key = self._keys.verify(user_id, channel_id)
        if subscribed:
            await self._redis.set(key, b"1", px=self._joined_ttl_ms())
        else:
            await self._redis.set(key, b"0", px=self._negative_ttl_ms)

    async def drop(self, user_id: int, channel_id: int) -> None:
        await self._redis.delete(self._keys.verify(user_id, channel_id))

    def _joined_ttl_ms(self) -> int:
        # Spread expiries so entries written together (a busy group right after a
        # restart) do not all expire, and all hit the Bot API, at the same moment.
        jitter = self._jitter
        return max(1, round(self._ttl_ms * self._rng.uniform(1 - jitter, 1 + jitter)))
