"""The per-message fast path in one round trip: claim the update and look up the gate.

A webhook message from a member would otherwise cost three scripts (claim the
update_id, look up the gate, mark the update done). This script does all three:
when the verdict needs no further work (admin, exempt, verified, unprotected) it
marks the update done at once; otherwise it takes the lease and the slow path
continues under it, exactly as the UpdateGuard would.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from gmbot.cache.gate_cache import LOOKUP_SCRIPT, reply_to_lookup
from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.cache.update_claims import ClaimState, LeaseTokens
from gmbot.domain.ports import GateLookup

# KEYS[1..3] as LOOKUP_SCRIPT; KEYS[4] update:{id}; KEYS[5] update_attempts:{id}
# ARGV[1..2] as LOOKUP_SCRIPT; ARGV[3] lease token; ARGV[4] lease ms; ARGV[5] done ttl s
# Reply: {-1} done already, {-2} leased by another, else the lookup reply with the
# attempt number appended (0 when the update was marked done right away).
CLAIM_LOOKUP_SCRIPT = (
    """
local seen = redis.call('GET', KEYS[4])
if seen == 'done' then return {-1} end
if seen then return {-2} end
local function lookup()
"""
    + LOOKUP_SCRIPT
    + """
end
local r = lookup()
local code = r[1]
if code == 1 or code == 3 or code == 4 or code == 5 then
  redis.call('SET', KEYS[4], 'done', 'EX', tonumber(ARGV[5]))
  r[#r + 1] = 0
  return r
end
local n = redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[5]))
redis.call('SET', KEYS[4], ARGV[3], 'PX', tonumber(ARGV[4]))
r[#r + 1] = n
return r
"""
)


@dataclass(frozen=True, slots=True)
class ClaimedLookup:
    claim: ClaimState
    lookup: GateLookup | None = None
    attempt: int = 0  # 0: already marked done (nothing left to do)
    token: str = ""


_DONE = ClaimedLookup(ClaimState.DONE)
_LEASED = ClaimedLookup(ClaimState.LEASED)


class RedisGateClaims:
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
        self._verify_prefix = self._keys.verify_prefix
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._done_ttl = done_ttl
        self._tokens = LeaseTokens(instance_id)
        self._script = redis.register_script(CLAIM_LOOKUP_SCRIPT)

    async def claim_lookup(self, update_id: int, chat_id: int, user_id: int) -> ClaimedLookup:
        k = self._keys
        token = self._tokens.next()
        reply = await self._script(
            keys=(
                k.group(chat_id),
                k.admins(chat_id),
                k.exempt(chat_id),
                k.update(update_id),
                k.attempts(update_id),
            ),
            args=(user_id, self._verify_prefix, token, self._lease_ms, self._done_ttl),
        )
        code = int(reply[0])
        if code == -1:
            return _DONE
        if code == -2:
            return _LEASED
        attempt = int(reply[-1])
        return ClaimedLookup(ClaimState.CLAIMED, reply_to_lookup(reply[:-1]), attempt, token)
