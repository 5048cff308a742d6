"""Each update_id is handled once across instances: a lease while handling, a
"done" mark (kept a day) afterwards, and an attempt counter for poison updates."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from enum import IntEnum
from string import Template

from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys

# Leases (update claims and the polling leader): only the holder's token may
# extend or free one; a holder whose lease lapsed and was taken changes nothing.
# KEYS: lease key. ARGV: token, lease ms. 1 when the lease is still ours.
RENEW_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
"""

# KEYS: lease key. ARGV: token.
RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ClaimState(IntEnum):
    CLAIMED = 0
    DONE = 1
    LEASED = 2


# The update-claim step, shared by the claim script below and the claim-and-lookup
# script (cache/gate_claims.py), in pieces inlined into each (a Lua function per
# piece would cost every message its definition). A script first binds the locals
# update_key, attempts_key, token, lease_ms and done_ttl, then runs CLAIM_CHECK,
# which replies {ClaimState.DONE} or {ClaimState.LEASED} when the update is taken,
# then TAKE_LEASE (binding the local `attempt`) or MARK_DONE. The numbers stay strings:
# Redis parses them itself, and a tonumber() call costs the hot script measurably.
CLAIM_CHECK = Template("""
local seen = redis.call('GET', update_key)
if seen == 'done' then return {$done} end
if seen then return {$leased} end
""").substitute(done=ClaimState.DONE.value, leased=ClaimState.LEASED.value)
TAKE_LEASE = """
local attempt = redis.call('INCR', attempts_key)
redis.call('EXPIRE', attempts_key, done_ttl)
redis.call('SET', update_key, token, 'PX', lease_ms)
"""
MARK_DONE = """
redis.call('SET', update_key, 'done', 'EX', done_ttl)
"""

# KEYS: update key, attempts key. ARGV: token, lease ms, done ttl s.
# Replies {ClaimState.CLAIMED, attempt}, or CLAIM_CHECK's reply.
_CLAIM = (
    """
local update_key, attempts_key = KEYS[1], KEYS[2]
local token, lease_ms, done_ttl = ARGV[1], ARGV[2], ARGV[3]
"""
    + CLAIM_CHECK
    + TAKE_LEASE
    + f"return {{{ClaimState.CLAIMED.value}, attempt}}\n"
)

# KEYS: update key, attempts key. ARGV: done ttl s, token. Marks done unless another
# holder has the update now (its lease lapsed and was taken: that holder marks it);
# a lease that lapsed untaken is marked, since the work was done. 1 when marked.
_FINISH = (
    """
local update_key, attempts_key, done_ttl, token = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local seen = redis.call('GET', update_key)
if seen and seen ~= token then return 0 end
"""
    + MARK_DONE
    + """
redis.call('DEL', attempts_key)
return 1
"""
)


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    attempt: int = 0
    token: str = ""


class LeaseTokens:
    """Lease tokens unique per process start and per claim, without a syscall each."""

    def __init__(self, instance_id: str) -> None:
        self._prefix = f"{instance_id}:{secrets.token_hex(6)}:"
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter)}"


class RedisUpdateClaims:
    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float,
        done_ttl: int = 86400,
        namespace: str = DEFAULT_NAMESPACE,
        instance_id: str = "",
    ) -> None:
        self._keys = CacheKeys(namespace)
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._done_ttl = done_ttl
        self._tokens = LeaseTokens(instance_id)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(RENEW_IF_OWNER)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(RELEASE_IF_OWNER)

    @property
    def lease_seconds(self) -> float:
        return self._lease_ms / 1000

    async def claim(self, update_id: int) -> Claim:
        token = self._tokens.next()
        keys = (self._keys.update(update_id), self._keys.attempts(update_id))
        reply = await self._claim(keys=keys, args=(token, self._lease_ms, self._done_ttl))
        state = ClaimState(int(reply[0]))
        if state is not ClaimState.CLAIMED:
            return Claim(state)
        return Claim(state, int(reply[1]), token)

    async def renew(self, update_id: int, token: str) -> bool:
        keys = (self._keys.update(update_id),)
        return bool(await self._renew(keys=keys, args=(token, self._lease_ms)))

    def lease_key(self, update_id: int) -> str:
        """The key holding the update's lease token (the fence scripts check)."""
        return self._keys.update(update_id)

    async def finish(self, update_id: int, token: str) -> bool:
        """Mark the update done, unless another holder has it now (False then)."""
        keys = (self._keys.update(update_id), self._keys.attempts(update_id))
        return bool(await self._finish(keys=keys, args=(self._done_ttl, token)))

    async def release(self, update_id: int, token: str) -> None:
        await self._release(keys=(self._keys.update(update_id),), args=(token,))
