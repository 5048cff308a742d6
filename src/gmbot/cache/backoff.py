"""Telegram's retry_after, shared: one instance's 429 holds back every instance."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys

GLOBAL = "global"


class RedisBackoff:
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = CacheKeys(namespace)
        self._global = self._keys.backoff(GLOBAL)

    async def wait_for(self, chat_id: int | str | None) -> float:
        """Seconds to hold back before calling the Bot API for this chat (0: go)."""
        keys = [self._global]
        if chat_id is not None:
            keys.append(self._keys.backoff(f"chat:{chat_id}"))
        values = await self._redis.mget(keys)
        now_ms = time.time() * 1000
        until = max((float(v) for v in values if v is not None), default=0.0)
        return max(0.0, (until - now_ms) / 1000)

    async def hold(self, chat_id: int | str | None, seconds: float) -> None:
        """Record Telegram's retry_after for the chat, or globally without one."""
        scope = GLOBAL if chat_id is None else f"chat:{chat_id}"
        ms = max(1, int(seconds * 1000))
        until = int(time.time() * 1000) + ms
        await self._redis.set(self._keys.backoff(scope), until, px=ms)
