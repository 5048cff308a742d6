"""The per-message fast path in one round trip: claim the update and look up the gate.

A webhook message from a member would otherwise cost three scripts (claim the
update_id, look up the gate, mark the update done). This script does all three:
when the lookup settles the message on its own (services/gate_verdicts.py) it marks
the update done at once; otherwise it takes the lease and the slow path continues
under it, exactly as the UpdateGuard would. An update that failed before is never
settled here: it takes the lease, so the guard's poison check sees its attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from gmbot.cache.gate_cache import LOOKUP_SCRIPT, REPLY_CODE, reply_to_lookup
from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.cache.update_claims import (
    CLAIM_CHECK,
    MARK_DONE,
    TAKE_LEASE,
    ClaimState,
    LeaseTokens,
)
from gmbot.domain.ports import GateLookup
from gmbot.services.gate_verdicts import SETTLED

# Lookup reply codes that settle a message, as the script's condition on `code`. Which
# states settle one is the gate's policy, so it is read from the service layer (a
# module of plain constants) rather than written down a second time here.
SETTLED_CODES = tuple(sorted(REPLY_CODE[state] for state in SETTLED))
_SETTLED_TEST = " or ".join(f"code == {code}" for code in SETTLED_CODES)
_CLAIMED = ClaimState.CLAIMED.value

# KEYS[1..3] as LOOKUP_SCRIPT; KEYS[4] update:{id}; KEYS[5] update_attempts:{id}
# ARGV[1..2] as LOOKUP_SCRIPT; ARGV[3] lease token; ARGV[4] lease ms; ARGV[5] done ttl s
# Reply: CLAIM_CHECK's when the update is taken already, else {ClaimState.CLAIMED,
# attempt, lookup reply...}, attempt 0 when the update was marked done right away.
CLAIM_LOOKUP_SCRIPT = (
    """
local update_key, attempts_key = KEYS[4], KEYS[5]
local token, lease_ms, done_ttl = ARGV[3], ARGV[4], ARGV[5]
"""
    + CLAIM_CHECK
    + "local function lookup()\n"
    + LOOKUP_SCRIPT
    + "end\nlocal r = lookup()\nlocal code = r[1]\n"
    + f"if ({_SETTLED_TEST}) and redis.call('EXISTS', attempts_key) == 0 then\n"
    + MARK_DONE
    + f"  return {{{_CLAIMED}, 0, code}}\nend\n"
    + TAKE_LEASE
    + f"return {{{_CLAIMED}, attempt, code, r[2], r[3]}}\n"
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
        state = int(reply[0])
        if state != _CLAIMED:
            return _DONE if state == ClaimState.DONE else _LEASED
        return ClaimedLookup(ClaimState.CLAIMED, reply_to_lookup(reply[2:]), int(reply[1]), token)
