"""RaidWatch over Redis: per-group raid state shared by every instance.

Every method that reads and then writes is one Lua script, so instances never race
each other: exactly one of them starts a raid, wins a notice refresh or ends a raid.

Keys, under {namespace}raid: (and {namespace}raids):
- seen:<chat>    ZSET member -> last time gated, outside a raid (the threshold's
                 window; older members are pruned, the key expires after 2 windows);
- <chat>         HASH while a raid is on: on (start time), last (last time gated),
                 n (distinct members gated since the start), notice (message id),
                 shown (the count the notice shows), edit_at (last refresh claimed),
                 posting (epoch ms until which an instance holds the notice claim);
- members:<chat> SET of the members counted since the start (the window's members
                 at the start, so n begins at the window's count);
- prompts:<chat> ZSET per-member prompt id -> epoch ms it expires (its ttl);
- raids          ZSET chat -> last time gated, for the sweep (stale_notices, end_calm).

Clocks: times passed in (`now`) are the instances' clocks and are compared only with
each other. The methods without one (prompt_shown, take_prompts, claim_notice,
notice_posted) use the Redis server's TIME: prompt expiries and the notice claim are
only ever compared with TIME, and notice_posted's refresh stamp (edit_at) meets the
instances' `now` only through `edit_every`, seconds long, far above clock skew.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE
from gmbot.domain.ports import EndedRaid, RaidPhase, RaidSignal, RaidWatch

# The sweep's bounds per call: raids ended, notices claimed, raids looked at for them.
SWEEP_LIMIT = 100
STALE_SCAN = 1000

_PHASES = (RaidPhase.CALM, RaidPhase.STARTED, RaidPhase.ONGOING)  # the scripts' codes

# Lua helpers: the server's clock in epoch ms, and a number as an exact integer string
# (a Lua number handed to redis.call would be written with 14 significant digits).
_NOW_MS = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function int(x) return string.format('%.0f', x) end
"""

# KEYS[1] seen  KEYS[2] raid  KEYS[3] members  KEYS[4] raids
# ARGV[1] user  ARGV[2] now  ARGV[3] threshold  ARGV[4] window start (now - window)
# ARGV[5] edit_every  ARGV[6] seen ttl ms  ARGV[7] chat
# Reply: {phase, gated, notice or nil, edit_due 0/1}
GATED_SCRIPT = """
local seen, raid, members, raids = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user, now, chat = ARGV[1], ARGV[2], ARGV[7]
local r = redis.call('HMGET', raid, 'on', 'n', 'shown', 'notice', 'edit_at')
if not r[1] then
  -- GT: a late caller with an older clock never moves a member back in time.
  redis.call('ZADD', seen, 'GT', now, user)
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. ARGV[4])
  redis.call('PEXPIRE', seen, ARGV[6])
  local count = redis.call('ZCARD', seen)
  local threshold = tonumber(ARGV[3])
  if threshold <= 0 or count < threshold then return {0, count} end
  local gated = redis.call('ZRANGE', seen, 0, -1)
  -- In chunks: Lua cannot unpack more than about 8000 values at once.
  for i = 1, #gated, 1000 do
    redis.call('SADD', members, unpack(gated, i, math.min(i + 999, #gated)))
  end
  redis.call('DEL', seen)
  redis.call('HSET', raid, 'on', now, 'last', now, 'n', count, 'shown', 0)
  redis.call('ZADD', raids, now, chat)
  return {1, count}
end
local n = tonumber(r[2])
if redis.call('SADD', members, user) == 1 then
  n = redis.call('HINCRBY', raid, 'n', 1)
end
if redis.call('ZADD', raids, 'GT', 'CH', now, chat) == 1 then
  redis.call('HSET', raid, 'last', now)
end
local due = 0
if r[4] and n ~= tonumber(r[3])
    and tonumber(now) - tonumber(r[5] or 0) >= tonumber(ARGV[5]) then
  redis.call('HSET', raid, 'edit_at', now)
  due = 1
end
return {2, n, r[4] or false, due}
"""

# Per-member prompts on screen: a ZSET of "<user>:<message>" (shown) and "p:<user>"
# (reserved, on its way), scored by expiry in ms of the Redis clock.
# KEYS[1] raid  KEYS[2] prompts  ARGV[1] user  ARGV[2] reservation ms
PROMPT_RESERVE_SCRIPT = (
    """
if redis.call('HEXISTS', KEYS[1], 'on') == 1 then return 0 end
"""
    + _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now_ms))
redis.call('ZADD', KEYS[2], int(now_ms + tonumber(ARGV[2])), 'p:' .. ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""
)

# KEYS[1] raid  KEYS[2] prompts  ARGV[1] user  ARGV[2] message  ARGV[3] ttl ms
PROMPT_SHOWN_SCRIPT = (
    """
redis.call('ZREM', KEYS[2], 'p:' .. ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'on') == 1 then return 0 end
"""
    + _NOW_MS
    + """
local ttl_ms = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now_ms))
redis.call('ZADD', KEYS[2], int(now_ms + ttl_ms), ARGV[1] .. ':' .. ARGV[2])
if redis.call('PTTL', KEYS[2]) < ttl_ms then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
"""
)

# KEYS[1] prompts.  Reply: {pending count, user, message, user, message, ...}: the
# prompts on screen are removed from the set; those on their way stay in it.
TAKE_PROMPTS_SCRIPT = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now_ms))
local out, pending = {0}, 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, 2) == 'p:' then
    pending = pending + 1
  else
    local sep = string.find(m, ':', 1, true)
    out[#out + 1] = string.sub(m, 1, sep - 1)
    out[#out + 1] = string.sub(m, sep + 1)
    redis.call('ZREM', KEYS[1], m)
  end
end
out[1] = pending
return out
"""
)

# KEYS[1] raid  ARGV[1] hold ms
CLAIM_NOTICE_SCRIPT = (
    """
local r = redis.call('HMGET', KEYS[1], 'on', 'notice', 'posting')
if not r[1] or r[2] then return 0 end
"""
    + _NOW_MS
    + """
if r[3] and tonumber(r[3]) > now_ms then return 0 end
redis.call('HSET', KEYS[1], 'posting', int(now_ms + tonumber(ARGV[1])))
return 1
"""
)

# KEYS[1] raid  ARGV[1] message id  ARGV[2] shown
# 0 when the raid ended, or when another notice was recorded first (after a lapsed
# claim): either way the caller removes its own, and one notice stays on screen.
NOTICE_POSTED_SCRIPT = """
local r = redis.call('HMGET', KEYS[1], 'on', 'notice')
if not r[1] then return 0 end
if r[2] then return r[2] == ARGV[1] and 1 or 0 end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[1], 'notice', ARGV[1], 'shown', ARGV[2], 'edit_at', now)
redis.call('HDEL', KEYS[1], 'posting')
return 1
"""

# KEYS[1] raid  ARGV[1] shown.  Never recreates the hash of a raid that ended.
NOTICE_SHOWN_SCRIPT = """
if redis.call('HEXISTS', KEYS[1], 'on') == 1 then
  redis.call('HSET', KEYS[1], 'shown', ARGV[1])
end
return 0
"""

# KEYS[1] raids  ARGV[1] raid key prefix  ARGV[2] now  ARGV[3] edit_every
# ARGV[4] raids looked at (most recently gated first)  ARGV[5] notices claimed at most
# Reply: flat {chat, notice, n, ...}; each claimed (edit_at = now) for one caller.
STALE_NOTICES_SCRIPT = """
local now, every, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local out = {}
for _, chat in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)) do
  local raid = ARGV[1] .. chat
  local r = redis.call('HMGET', raid, 'notice', 'n', 'shown', 'edit_at')
  if r[1] and tonumber(r[2]) ~= tonumber(r[3]) and now - tonumber(r[4] or 0) >= every then
    redis.call('HSET', raid, 'edit_at', ARGV[2])
    out[#out + 1] = chat
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    if #out >= 3 * limit then break end
  end
end
return out
"""

# KEYS[1] raids  ARGV[1] raid key prefix  ARGV[2] how many raids to look at.
# Reply: flat {chat, n, ...} of raids on with no notice posted. Reads only.
WITHOUT_NOTICE_SCRIPT = """
local out = {}
for _, chat in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local r = redis.call('HMGET', ARGV[1] .. chat, 'on', 'notice', 'n')
  if r[1] and not r[2] then
    out[#out + 1] = chat
    out[#out + 1] = r[3] or '0'
  end
end
return out
"""

# KEYS[1] raids  ARGV[1] raid key prefix  ARGV[2] cutoff (now - calm)  ARGV[3] limit
# Reply: flat {chat, started at, n, notice or nil, ...}; each raid's keys are deleted,
# so it is handed to exactly one caller.
END_CALM_SCRIPT = """
local prefix = ARGV[1]
local out = {}
local calm = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, chat in ipairs(calm) do
  local raid = prefix .. chat
  local r = redis.call('HMGET', raid, 'on', 'n', 'notice')
  redis.call('DEL', raid, prefix .. 'members:' .. chat, prefix .. 'prompts:' .. chat,
             prefix .. 'seen:' .. chat)
  redis.call('ZREM', KEYS[1], chat)
  if r[1] then
    out[#out + 1] = chat
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3] or false
  end
end
return out
"""


# A reserved prompt not reported sent or dropped (its poster died) lapses after this.
RESERVATION_LIMIT = 30.0


class RedisRaidWatch(RaidWatch):
    def __init__(self, redis: Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._redis = redis
        self._prefix = f"{namespace}raid:"
        self._raids = f"{namespace}raids"
        self._gated = redis.register_script(GATED_SCRIPT)
        self._prompt_reserve = redis.register_script(PROMPT_RESERVE_SCRIPT)
        self._prompt_shown = redis.register_script(PROMPT_SHOWN_SCRIPT)
        self._take_prompts = redis.register_script(TAKE_PROMPTS_SCRIPT)
        self._claim_notice = redis.register_script(CLAIM_NOTICE_SCRIPT)
        self._notice_posted = redis.register_script(NOTICE_POSTED_SCRIPT)
        self._notice_shown = redis.register_script(NOTICE_SHOWN_SCRIPT)
        self._stale_notices = redis.register_script(STALE_NOTICES_SCRIPT)
        self._end_calm = redis.register_script(END_CALM_SCRIPT)
        self._without_notice = redis.register_script(WITHOUT_NOTICE_SCRIPT)

    def _raid(self, chat_id: int) -> str:
        return f"{self._prefix}{chat_id}"

    def _seen(self, chat_id: int) -> str:
        return f"{self._prefix}seen:{chat_id}"

    def _members(self, chat_id: int) -> str:
        return f"{self._prefix}members:{chat_id}"

    def _prompts(self, chat_id: int) -> str:
        return f"{self._prefix}prompts:{chat_id}"

    async def gated(
        self,
        chat_id: int,
        user_id: int,
        now: float,
        *,
        threshold: int,
        window: float,
        edit_every: float,
    ) -> RaidSignal:
        seen_ttl_ms = max(1000, math.ceil(window * 2000))
        reply = await self._gated(
            keys=(self._seen(chat_id), self._raid(chat_id), self._members(chat_id), self._raids),
            args=(
                user_id,
                repr(now),
                threshold,
                repr(now - window),
                repr(edit_every),
                seen_ttl_ms,
                chat_id,
            ),
        )
        phase, gated = _PHASES[int(reply[0])], int(reply[1])
        if phase is not RaidPhase.ONGOING:
            return RaidSignal(phase, gated)
        return RaidSignal(phase, gated, _optional_int(reply[2]), bool(int(reply[3])))

    async def prompt_reserve(self, chat_id: int, user_id: int, ttl: float) -> bool:
        hold_ms = max(1, math.ceil(min(ttl, RESERVATION_LIMIT) * 1000))
        reply = await self._prompt_reserve(
            keys=(self._raid(chat_id), self._prompts(chat_id)), args=(user_id, hold_ms)
        )
        return bool(int(reply))

    async def prompt_shown(self, chat_id: int, user_id: int, message_id: int, ttl: float) -> bool:
        ttl_ms = max(1, math.ceil(ttl * 1000))
        reply = await self._prompt_shown(
            keys=(self._raid(chat_id), self._prompts(chat_id)),
            args=(user_id, message_id, ttl_ms),
        )
        return bool(int(reply))

    async def prompt_dropped(self, chat_id: int, user_id: int) -> None:
        await self._redis.zrem(self._prompts(chat_id), f"p:{user_id}")

    async def take_prompts(self, chat_id: int) -> tuple[list[tuple[int, int]], int]:
        reply = await self._take_prompts(keys=(self._prompts(chat_id),))
        shown = [(int(reply[i]), int(reply[i + 1])) for i in range(1, len(reply), 2)]
        return shown, int(reply[0])

    async def claim_notice(self, chat_id: int, hold: float) -> bool:
        hold_ms = max(1, math.ceil(hold * 1000))
        return bool(int(await self._claim_notice(keys=(self._raid(chat_id),), args=(hold_ms,))))

    async def release_notice(self, chat_id: int) -> None:
        await self._redis.hdel(self._raid(chat_id), "posting")

    async def notice_posted(self, chat_id: int, message_id: int, shown: int) -> bool:
        reply = await self._notice_posted(keys=(self._raid(chat_id),), args=(message_id, shown))
        return bool(int(reply))

    async def notice_shown(self, chat_id: int, shown: int) -> None:
        await self._notice_shown(keys=(self._raid(chat_id),), args=(shown,))

    async def active(self, chat_id: int) -> RaidSignal | None:
        on, n, notice = await self._redis.hmget(self._raid(chat_id), ["on", "n", "notice"])
        if on is None:
            return None
        return RaidSignal(RaidPhase.ONGOING, int(n or 0), _optional_int(notice))

    async def stale_notices(self, now: float, edit_every: float) -> list[tuple[int, int, int]]:
        reply = await self._stale_notices(
            keys=(self._raids,),
            args=(self._prefix, repr(now), repr(edit_every), STALE_SCAN, SWEEP_LIMIT),
        )
        return [
            (int(reply[i]), int(reply[i + 1]), int(reply[i + 2])) for i in range(0, len(reply), 3)
        ]

    async def without_notice(self) -> list[tuple[int, int]]:
        reply = await self._without_notice(keys=(self._raids,), args=(self._prefix, STALE_SCAN))
        return [(int(reply[i]), int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def end_calm(self, now: float, calm: float) -> list[EndedRaid]:
        reply = await self._end_calm(
            keys=(self._raids,), args=(self._prefix, repr(now - calm), SWEEP_LIMIT)
        )
        return [
            EndedRaid(
                chat_id=int(reply[i]),
                started_at=float(reply[i + 1]),
                gated=int(reply[i + 2] or 0),
                notice_id=_optional_int(reply[i + 3]),
            )
            for i in range(0, len(reply), 4)
        ]


def _optional_int(value: bytes | str | int | None) -> int | None:
    return None if value is None else int(value)
