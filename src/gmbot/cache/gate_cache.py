"""GateCache over Redis: group configuration and admin lists, read by one Lua call.

lookup() is the per-message fast path. It costs a single EVALSHA: the script reads the
group hash, the admin and exempt sets and the sender's verify:{user}:{channel} entries
and answers with a small integer code, so Python decodes no JSON and issues no second
command. The full ProtectedGroup is cached next to it as JSON for get_group, which only
runs off the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Template
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gmbot.cache.group_codec import decode_group, encode_group
from gmbot.cache.keys import ADMINS_CACHED, DEFAULT_NAMESPACE, CacheKeys
from gmbot.domain.models import ChannelMode, ProtectedGroup
from gmbot.domain.ports import CacheUnavailable, GateCache, GateLookup, GateState

# The script answers with a state's index in this tuple: {code}, or for CHECK
# {code, unknown ids, missing ids}. The script text below takes its codes from it.
REPLY_STATES: tuple[GateState, ...] = (
    GateState.GROUP_UNKNOWN,
    GateState.UNPROTECTED,
    GateState.ADMINS_UNKNOWN,
    GateState.ADMIN,
    GateState.EXEMPT,
    GateState.VERIFIED,
    GateState.CHECK,
)
REPLY_CODE: dict[GateState, int] = {state: code for code, state in enumerate(REPLY_STATES)}

# KEYS[1] grp:{chat}  KEYS[2] admins:{chat}  KEYS[3] exempt:{chat}
# The group hash: 'on' "1"|"0", 'ch' the channel ids comma-separated, 'any' "1" when
# one joined channel is enough (ChannelMode.ANY), 'full' the ProtectedGroup as JSON.
# In ANY mode CHECK means no cached channel is joined: unknown ones need a look-up,
# and with none unknown every channel is missing.
# ARGV[1] user id     ARGV[2] verify key prefix, e.g. "gmbot:verify:"
# The verify keys are built inside the script instead of being passed as KEYS, which
# is fine on one Redis but not Redis-Cluster-safe (they may hash to another slot).
LOOKUP_SCRIPT = Template("""
local conf = redis.call('HMGET', KEYS[1], 'on', 'ch', 'any')
if not conf[1] then return {$group_unknown} end
if conf[1] ~= '1' then return {$unprotected} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {$admins_unknown} end
local user = ARGV[1]
if redis.call('SISMEMBER', KEYS[2], user) == 1 then return {$admin} end
if redis.call('SISMEMBER', KEYS[3], user) == 1 then return {$exempt} end
local prefix = ARGV[2] .. user .. ':'
-- 'any' = '1': one joined channel is enough (ChannelMode.ANY); absent means ALL.
local any = conf[3] == '1'
local unknown, missing = {}, {}
for ch in string.gmatch(conf[2] or '', '[^,]+') do
  local joined = redis.call('GET', prefix .. ch)
  if joined == '1' and any then return {$verified} end
  if not joined then
    unknown[#unknown + 1] = ch
  elseif joined ~= '1' then
    missing[#missing + 1] = ch
  end
end
if #unknown == 0 and #missing == 0 then return {$verified} end
return {$check, unknown, missing}
""").substitute({state.value: code for state, code in REPLY_CODE.items()})

# Indexed by reply code; the lookups are immutable, so they are shared.
_FIXED_REPLIES = tuple(GateLookup(state) for state in REPLY_STATES)
_CHECK = REPLY_CODE[GateState.CHECK]


def reply_to_lookup(reply: list[Any]) -> GateLookup:
    """The script's reply as a GateLookup (shared instances for the fixed states)."""
    code = int(reply[0])
    if code != _CHECK:
        return _FIXED_REPLIES[code]
    return GateLookup(
        GateState.CHECK,
        unknown=tuple(int(c) for c in reply[1]),
        missing=tuple(int(c) for c in reply[2]),
    )


class RedisGateCache(GateCache):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._keys = CacheKeys(namespace)
        self._verify_prefix = self._keys.verify_prefix
        # redis-py sends EVALSHA and reloads the script itself after a NOSCRIPT.
        self._lookup = redis.register_script(LOOKUP_SCRIPT)

    async def lookup(self, chat_id: int, user_id: int) -> GateLookup:
        keys = self._keys
        try:
            reply = await self._lookup(
                keys=(keys.group(chat_id), keys.admins(chat_id), keys.exempt(chat_id)),
                args=(user_id, self._verify_prefix),
            )
        except (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return reply_to_lookup(reply)

    async def get_group(self, chat_id: int) -> tuple[bool, ProtectedGroup | None]:
        raw: bytes | str | None = await self._redis.hget(self._keys.group(chat_id), "full")
        if raw is None:
            return False, None
        if not raw:
            return True, None
        try:
            return True, decode_group(raw)
        except ValueError:
            # Unreadable (e.g. written by an incompatible version): reload it.
            return False, None

    async def put_group(
        self, chat_id: int, group: ProtectedGroup | None, exempt: Sequence[int], ttl: int
    ) -> None:
        any_ = "0"
        if group is not None and group.active:
            on, channels = "1", ",".join(str(c.channel_id) for c in group.channels)
            any_ = "1" if group.settings.mode is ChannelMode.ANY else "0"
        else:
            on, channels = "0", ""
        full = encode_group(group) if group is not None else ""
        group_key, exempt_key = self._keys.group(chat_id), self._keys.exempt(chat_id)
        # MULTI: the script never sees a group without its matching exempt set.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(group_key, exempt_key)
            pipe.hset(group_key, items=("on", on, "ch", channels, "any", any_, "full", full))
            pipe.expire(group_key, ttl)
            if exempt:
                pipe.sadd(exempt_key, *exempt)
                pipe.expire(exempt_key, ttl)
            await pipe.execute()

    async def drop_group(self, chat_id: int) -> None:
        await self._redis.delete(self._keys.group(chat_id), self._keys.exempt(chat_id))

    async def put_admins(self, chat_id: int, user_ids: Sequence[int], ttl: int) -> None:
        key = self._keys.admins(chat_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            # The marker member keeps an empty admin list distinguishable from no list.
            pipe.sadd(key, ADMINS_CACHED, *user_ids)
            pipe.expire(key, ttl)
            await pipe.execute()

    async def drop_admins(self, chat_id: int) -> None:
        await self._redis.delete(self._keys.admins(chat_id))
