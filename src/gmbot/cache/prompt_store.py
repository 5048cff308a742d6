"""PromptStore over Redis: one live prompt slot per (group, user), and the schedule of
prompt deletions that every instance polls.
"""

from __future__ import annotations

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.domain.ports import DueDeletion, PromptStore

_PENDING = b"pending"  # slot claimed, prompt not sent yet ("pending:<owner>")

# KEYS[1] the slot  ARGV[1] pending value  ARGV[2] ttl  ARGV[3] "1" if re-entrant
CLAIM_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
if ARGV[3] == '1' and v == ARGV[1] then return 1 end
return 0
"""

# Takes what is due and removes it in the same script, so two instances polling at
# once can never both receive an item. ZREM goes in chunks: Redis' Lua cannot unpack
# more than about 8000 values at once.
# KEYS[1] prompt_due  ARGV[1] now (epoch seconds)  ARGV[2] limit
CLAIM_DUE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for i = 1, #due, 1000 do
  redis.call('ZREM', KEYS[1], unpack(due, i, math.min(i + 999, #due)))
end
return due
"""


class RedisPromptStore(PromptStore):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = CacheKeys(namespace)
        self._claim_due = redis.register_script(CLAIM_DUE_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)

    async def claim(self, chat_id: int, user_id: int, ttl: int, owner: int | None = None) -> bool:
        key = self._keys.prompt(chat_id, user_id)
        if owner is None:
            return bool(await self._redis.set(key, _PENDING, nx=True, ex=ttl))
        pending = f"pending:{owner}"
        return bool(await self._claim(keys=(key,), args=(pending, ttl, "1")))

    async def attach(self, chat_id: int, user_id: int, message_id: int, ttl: int) -> None:
        """Store the message id, keeping the slot's remaining TTL.

        A slot that vanished while the prompt was being sent (expired, or cleared
        because the user verified meanwhile) is recreated with `ttl`, so the prompt
        stays findable by current() and clear() until then.
        """
        key = self._keys.prompt(chat_id, user_id)
        # In one MULTI exactly one of the two SETs applies: XX when the slot exists,
        # NX when it does not.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, message_id, xx=True, keepttl=True)
            pipe.set(key, message_id, nx=True, ex=ttl)
            await pipe.execute()

    async def current(self, chat_id: int, user_id: int) -> int | None:
        return _message_id(await self._redis.get(self._keys.prompt(chat_id, user_id)))

    async def clear(self, chat_id: int, user_id: int) -> int | None:
        # GETDEL (Redis >= 6.2): read and free the slot atomically, so of two
        # concurrent clears only one gets the message id to delete.
        return _message_id(await self._redis.getdel(self._keys.prompt(chat_id, user_id)))

    async def schedule_deletion(self, item: DueDeletion, at: float) -> None:
        await self._redis.zadd(self._keys.prompt_due, {_encode_due(item): at})

    async def claim_due(self, now: float, limit: int = 100) -> list[DueDeletion]:
        if limit <= 0:
            return []
        members = await self._claim_due(keys=(self._keys.prompt_due,), args=(repr(now), limit))
        due = (_decode_due(m) for m in members)
        return [item for item in due if item is not None]


def _message_id(value: bytes | str | None) -> int | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    return None if text.startswith("pending") else int(text)


def _encode_due(item: DueDeletion) -> str:
    user = "" if item.user_id is None else item.user_id
    return f"{item.chat_id}:{item.message_id}:{user}"


def _decode_due(member: bytes | str) -> DueDeletion | None:
    text = member.decode() if isinstance(member, bytes) else member
    try:
        chat_id, message_id, user_id = text.split(":")
        return DueDeletion(int(chat_id), int(message_id), int(user_id) if user_id else None)
    except ValueError:
        return None  # not written by _encode_due; already removed, nothing to do
