"""Telegram's flood limits as token buckets in Redis, shared by every instance.

Each named limit is one bucket, kept the GCRA way: a single number, the moment
(in microseconds of the Redis server's clock) at which the bucket will be full again.
That needs no floating-point token counts, and one Lua script per acquire checks and
takes every limit of a call at once, so instances never over-spend a bucket between
them. The clock is Redis's own (TIME), so instances with skewed clocks agree.

Limits:
- "writes": calls that change things (Telegram: about 30 a second per bot);
- "reads": getChat, getChatMember, getChatAdministrators, getChatMemberCount;
- "chat:<id>": messages the bot posts in one chat. A group or channel gets at most
  20 a minute from Telegram: burst + refill per minute must stay within that. A private
  chat gets about one a second after a short burst.

Keys: {namespace}rate:<limit> (string: the full-again moment; it expires once the
bucket is full, so idle chat buckets vanish) and {namespace}rate_hold:<limit> (string:
the moment a 429 hold ends; it expires by itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE
from gmbot.config import Settings
from gmbot.domain.actions import Priority
from gmbot.domain.ports import RateLimiter

WRITES = "writes"
READS = "reads"
CHAT_PREFIX = "chat:"

# The share of the bot's write and read buckets a priority must leave for higher ones:
# deletions may take the last token, so in a raid they keep going while mutes, prompts
# and reports wait. A chat's message bucket has no reserve: only prompts, notices and
# reports post messages, and a reserve there would only slow them after a 429.
RESERVE: Mapping[Priority, float] = {
    Priority.DELETE: 0.0,
    Priority.MUTE: 0.1,
    Priority.CHECK: 0.1,
    Priority.PROMPT: 0.25,
    Priority.LOG: 0.5,
}

_US = 1_000_000  # microseconds in a second
# A full bucket's key outlives the refill by this much, so it never vanishes early.
_TTL_MARGIN_MS = 1000


def chat_limit(chat_id: int | str) -> str:
    return f"{CHAT_PREFIX}{chat_id}"


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Bucket sizes (burst) and refill rates of the named limits."""

    writes_per_second: float = 25.0
    writes_burst: int = 5
    reads_per_second: float = 80.0
    reads_burst: int = 20
    # Burst plus a minute's refill is the most a group sees in any minute (Telegram: 20).
    group_messages_per_minute: float = 10.0
    group_burst: int = 10
    private_per_second: float = 1.0
    private_burst: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            writes_per_second=settings.rate_writes_per_second,
            writes_burst=settings.rate_writes_burst,
            reads_per_second=settings.rate_reads_per_second,
            reads_burst=settings.rate_reads_burst,
            group_messages_per_minute=settings.rate_group_messages_per_minute,
            group_burst=settings.rate_group_burst,
            private_per_second=settings.rate_private_per_second,
            private_burst=settings.rate_private_burst,
        )

    def bucket(self, limit: str) -> tuple[int, float]:
        """(capacity, tokens per second) of a named limit."""
        if limit == WRITES:
            return self.writes_burst, self.writes_per_second
        if limit == READS:
            return self.reads_burst, self.reads_per_second
        if limit.startswith(CHAT_PREFIX):
            chat = limit[len(CHAT_PREFIX) :]
            # Only users have positive ids; a public @username is a group or channel.
            if chat.lstrip("-").isdigit() and int(chat) > 0:
                return self.private_burst, self.private_per_second
            return self.group_burst, self.group_messages_per_minute / 60
        raise ValueError(f"unknown rate limit {limit!r}")


# KEYS: per limit, its bucket then its hold. ARGV[1]: now in microseconds ("" = TIME);
# then per limit: interval (us per token), the most the full-again moment may lie
# ahead after taking a token (us; the priority's reserve taken off), key TTL margin (ms).
# Returns 0 when one token was taken from every limit, else the microseconds until
# every limit would grant it (nothing is taken then).
_ACQUIRE = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local n = #KEYS / 2
local wait = 0
local after = {}
for i = 1, n do
  local interval = tonumber(ARGV[3 * i - 1])
  local room = tonumber(ARGV[3 * i])
  local full_at = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local taken = math.max(full_at, now) + interval
  after[i] = taken
  local w = taken - now - room
  local held = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if held - now > w then w = held - now end
  if w > wait then wait = w end
end
if wait > 0 then
  return math.ceil(wait)
end
for i = 1, n do
  local ttl = math.ceil((after[i] - now) / 1000) + tonumber(ARGV[3 * i + 1])
  redis.call('SET', KEYS[2 * i - 1], string.format('%.0f', after[i]), 'PX',
    string.format('%.0f', ttl))
end
return 0
"""

# KEYS: bucket, hold. ARGV: now (us, "" = TIME), hold (us), capacity x interval (us),
# key TTL margin (ms). The hold only ever grows; the bucket is emptied either way.
_HOLD = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local hold_until = now + tonumber(ARGV[2])
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold_until > held then
  redis.call('SET', KEYS[2], string.format('%.0f', hold_until), 'PX',
    string.format('%.0f', math.ceil((hold_until - now) / 1000)))
end
local empty_until = now + tonumber(ARGV[3])
local full_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if empty_until > full_at then
  local ttl = math.ceil((empty_until - now) / 1000) + tonumber(ARGV[4])
  redis.call('SET', KEYS[1], string.format('%.0f', empty_until), 'PX',
    string.format('%.0f', ttl))
end
return 0
"""


class RedisRateLimiter(RateLimiter):
    def __init__(
        self,
        redis: Redis,
        limits: RateLimits | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (epoch seconds) replaces the Redis server's clock; for tests only."""
        self._limits = limits or RateLimits()
        self._bucket_prefix = f"{namespace}rate:"
        self._hold_prefix = f"{namespace}rate_hold:"
        self._clock = clock
        self._acquire = redis.register_script(_ACQUIRE)
        self._hold = redis.register_script(_HOLD)

    def _now(self) -> str:
        return "" if self._clock is None else str(round(self._clock() * _US))

    def _interval(self, limit: str) -> tuple[int, int]:
        capacity, per_second = self._limits.bucket(limit)
        return capacity, max(1, round(_US / per_second))

    async def acquire(self, limits: Sequence[str], priority: Priority) -> float:
        if not limits:
            return 0.0
        keys: list[str] = []
        args: list[str | int] = [self._now()]
        for limit in limits:
            reserve = 0.0 if limit.startswith(CHAT_PREFIX) else RESERVE[priority]
            capacity, interval = self._interval(limit)
            # Whatever the reserve, a full bucket grants any priority one token.
            room = max(interval, math.floor(capacity * (1 - reserve) * interval))
            keys += [self._bucket_prefix + limit, self._hold_prefix + limit]
            args += [interval, room, _TTL_MARGIN_MS]
        wait_us = int(await self._acquire(keys=keys, args=args))
        return wait_us / _US

    async def hold(self, limit: str, seconds: float) -> None:
        capacity, interval = self._interval(limit)
        hold_us = max(1, math.ceil(seconds * _US))
        await self._hold(
            keys=[self._bucket_prefix + limit, self._hold_prefix + limit],
            args=[self._now(), hold_us, capacity * interval, _TTL_MARGIN_MS],
        )
