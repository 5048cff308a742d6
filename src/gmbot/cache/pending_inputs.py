"""The answer each user's private chat awaits (PendingInputs), one Redis key per user
holding a small JSON object, set with its ttl."""

from __future__ import annotations

import json

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gmbot.cache.keys import DEFAULT_NAMESPACE
from gmbot.domain.ports import CacheUnavailable, InputKind, PendingInput, PendingInputs


def encode(pending: PendingInput) -> str:
    return json.dumps({"chat": pending.chat_id, "kind": pending.kind.value, "key": pending.key})


def decode(raw: bytes | str | None) -> PendingInput | None:
    """None for anything this module did not write (a value from an older release)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        chat, kind, key = data["chat"], InputKind(data["kind"]), data["key"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(chat, int) or isinstance(chat, bool) or not isinstance(key, str):
        return None
    return PendingInput(chat, kind, key)


class RedisPendingInputs(PendingInputs):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:panel_input:"

    async def expect(self, user_id: int, pending: PendingInput, ttl: int) -> None:
        try:
            await self._redis.set(self._prefix + str(user_id), encode(pending), ex=max(1, ttl))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def awaited(self, user_id: int) -> PendingInput | None:
        try:
            raw = await self._redis.get(self._prefix + str(user_id))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return decode(raw)

    async def drop(self, user_id: int) -> PendingInput | None:
        try:
            raw = await self._redis.getdel(self._prefix + str(user_id))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return decode(raw)
