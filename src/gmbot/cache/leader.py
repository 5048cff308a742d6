"""A Redis lease naming the one instance allowed to long-poll."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.cache.update_claims import RELEASE_IF_OWNER, RENEW_IF_OWNER


class RedisLeaderLease:
    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float,
        instance_id: str,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self._redis = redis
        self._key = CacheKeys(namespace).leader
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self.token = f"{instance_id}:{secrets.token_hex(6)}"
        self._renew = redis.register_script(RENEW_IF_OWNER)
        self._release = redis.register_script(RELEASE_IF_OWNER)

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self._key, self.token, nx=True, px=self._lease_ms))

    async def renew(self) -> bool:
        """False when the lease was lost (expired and possibly taken by another)."""
        return bool(await self._renew(keys=(self._key,), args=(self.token, self._lease_ms)))

    async def release(self) -> None:
        await self._release(keys=(self._key,), args=(self.token,))

    async def holder(self) -> str | None:
        value = await self._redis.get(self._key)
        return value.decode() if isinstance(value, bytes) else value
