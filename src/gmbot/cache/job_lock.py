"""Fleet-wide job locks over Redis: SET NX PX takes one, only its token frees it."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.cache.update_claims import RELEASE_IF_OWNER, LeaseTokens
from gmbot.domain.ports import CacheUnavailable, JobLock


class RedisJobLock(JobLock):
    def __init__(
        self, redis: Redis, *, instance_id: str = "", namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        self._redis = redis
        self._keys = CacheKeys(namespace)
        # The instance in the token says who holds a lock when one is looked at.
        self._tokens = LeaseTokens(instance_id)
        self._release = redis.register_script(RELEASE_IF_OWNER)

    async def hold(self, name: str, seconds: float) -> str | None:
        token = self._tokens.next()
        try:
            taken = await self._redis.set(
                self._keys.job_lock(name), token, nx=True, px=max(1, round(seconds * 1000))
            )
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return token if taken else None

    async def release(self, name: str, token: str) -> bool:
        try:
            return bool(await self._release(keys=(self._keys.job_lock(name),), args=(token,)))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
