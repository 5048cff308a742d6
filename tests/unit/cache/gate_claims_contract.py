"""RedisGateClaims, the fast path's claim-and-lookup script, as one contract run on
fakeredis (tests/unit/cache) and on a real Redis (tests/integration/cache).

Subclasses provide the fixtures `redis`, `namespace`, `spied_redis` and `wire`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisGateCache, RedisMembershipCache
from gmbot.cache.gate_cache import REPLY_STATES
from gmbot.cache.gate_claims import SETTLED_CODES, ClaimedLookup, RedisGateClaims
from gmbot.cache.update_claims import ClaimState, RedisUpdateClaims
from gmbot.domain.models import LinkedChannel, ProtectedGroup
from gmbot.domain.ports import GateLookup, GateState
from gmbot.services.gate_verdicts import SETTLED

CHAT, USER, ADMIN = -1001, 42, 7
CH_A, CH_B = -1002000000001, -1002000000002
LEASE = 5.0
DONE_TTL = 3600


def group(*channel_ids: int) -> ProtectedGroup:
    return ProtectedGroup(
        chat_id=CHAT,
        title="Group",
        protected_by=ADMIN,
        protected_at=datetime(2024, 5, 1, tzinfo=UTC),
        channels=tuple(LinkedChannel(c, f"channel {c}") for c in channel_ids),
    )


async def arrange(redis: Redis, namespace: str, state: GateState) -> GateLookup:
    """Cache what makes USER's lookup in CHAT come out as `state`; the lookup expected."""
    cache = RedisGateCache(redis, namespace=namespace)
    members = RedisMembershipCache(redis, namespace=namespace)
    if state is GateState.GROUP_UNKNOWN:
        return GateLookup(state)
    if state is GateState.UNPROTECTED:
        await cache.put_group(CHAT, None, [], 300)
        return GateLookup(state)
    exempt = [USER] if state is GateState.EXEMPT else []
    await cache.put_group(CHAT, group(CH_A, CH_B), exempt, 300)
    if state is GateState.ADMINS_UNKNOWN:
        return GateLookup(state)
    await cache.put_admins(CHAT, [USER] if state is GateState.ADMIN else [ADMIN], 300)
    if state is GateState.VERIFIED:
        await members.put(USER, CH_A, True)
        await members.put(USER, CH_B, True)
    if state is GateState.CHECK:
        await members.put(USER, CH_B, False)
        return GateLookup(state, unknown=(CH_A,), missing=(CH_B,))
    return GateLookup(state)


class GateClaimsContract:
    @pytest.fixture
    def claims(self, redis: Redis, namespace: str) -> RedisGateClaims:
        return RedisGateClaims(
            redis, lease_seconds=LEASE, done_ttl=DONE_TTL, namespace=namespace, instance_id="a"
        )

    @pytest.fixture
    def updates(self, redis: Redis, namespace: str) -> RedisUpdateClaims:
        """The guard's claims on the same keys, as another instance would hold them."""
        return RedisUpdateClaims(
            redis, lease_seconds=LEASE, done_ttl=DONE_TTL, namespace=namespace, instance_id="b"
        )

    def test_the_script_settles_exactly_the_services_settled_states(self) -> None:
        assert set(REPLY_STATES) == set(GateState)
        assert {REPLY_STATES[code] for code in SETTLED_CODES} == set(SETTLED)

    @pytest.mark.parametrize("state", list(SETTLED), ids=str)
    async def test_a_settled_lookup_marks_the_update_done_at_once(
        self, redis: Redis, namespace: str, claims: RedisGateClaims, state: GateState
    ) -> None:
        expected = await arrange(redis, namespace, state)
        found = await claims.claim_lookup(1, CHAT, USER)
        assert (found.claim, found.lookup, found.attempt) == (ClaimState.CLAIMED, expected, 0)
        assert await redis.get(f"{namespace}update:1") == b"done"
        assert DONE_TTL - 5 <= await redis.ttl(f"{namespace}update:1") <= DONE_TTL
        assert not await redis.exists(f"{namespace}update_attempts:1")
        assert await claims.claim_lookup(1, CHAT, USER) == ClaimedLookup(ClaimState.DONE)

    @pytest.mark.parametrize("state", [s for s in REPLY_STATES if s not in SETTLED], ids=str)
    async def test_any_other_lookup_takes_the_lease_for_the_slow_path(
        self, redis: Redis, namespace: str, claims: RedisGateClaims, state: GateState
    ) -> None:
        expected = await arrange(redis, namespace, state)
        found = await claims.claim_lookup(2, CHAT, USER)
        assert (found.claim, found.lookup, found.attempt) == (ClaimState.CLAIMED, expected, 1)
        assert found.token
        assert await redis.get(f"{namespace}update:2") == found.token.encode()
        assert 0 < await redis.pttl(f"{namespace}update:2") <= LEASE * 1000
        assert DONE_TTL - 5 <= await redis.ttl(f"{namespace}update_attempts:2") <= DONE_TTL
        assert await claims.claim_lookup(2, CHAT, USER) == ClaimedLookup(ClaimState.LEASED)

    async def test_shares_the_update_claim_with_the_guard(
        self,
        redis: Redis,
        namespace: str,
        claims: RedisGateClaims,
        updates: RedisUpdateClaims,
    ) -> None:
        await arrange(redis, namespace, GateState.CHECK)
        held = await updates.claim(3)
        assert (await claims.claim_lookup(3, CHAT, USER)).claim is ClaimState.LEASED
        await updates.release(3, held.token)
        retried = await claims.claim_lookup(3, CHAT, USER)
        assert (retried.claim, retried.attempt) == (ClaimState.CLAIMED, 2)
        assert (await updates.claim(3)).state is ClaimState.LEASED
        await updates.finish(3, retried.token)
        assert (await claims.claim_lookup(3, CHAT, USER)).claim is ClaimState.DONE
        await arrange(redis, namespace, GateState.VERIFIED)
        await claims.claim_lookup(4, CHAT, USER)  # settled: done at once
        assert (await updates.claim(4)).state is ClaimState.DONE

    async def test_an_update_that_failed_before_is_never_settled(
        self,
        redis: Redis,
        namespace: str,
        claims: RedisGateClaims,
        updates: RedisUpdateClaims,
    ) -> None:
        # The guard counts its attempts, so the poison check must see this one too.
        await arrange(redis, namespace, GateState.CHECK)
        first = await claims.claim_lookup(5, CHAT, USER)
        await updates.release(5, first.token)  # the handler failed
        await arrange(redis, namespace, GateState.VERIFIED)
        again = await claims.claim_lookup(5, CHAT, USER)
        assert (again.claim, again.attempt) == (ClaimState.CLAIMED, 2)
        assert again.lookup == GateLookup(GateState.VERIFIED)
        assert await redis.get(f"{namespace}update:5") == again.token.encode()

    async def test_leases_lapse_and_tokens_differ(
        self, redis: Redis, namespace: str, claims: RedisGateClaims
    ) -> None:
        await arrange(redis, namespace, GateState.CHECK)
        first = await claims.claim_lookup(6, CHAT, USER)
        await redis.delete(f"{namespace}update:6")  # as if the lease had expired
        second = await claims.claim_lookup(6, CHAT, USER)
        assert second.attempt == 2
        assert second.token != first.token

    async def test_namespaces_do_not_see_each_other(
        self, redis: Redis, namespace: str, claims: RedisGateClaims
    ) -> None:
        await arrange(redis, namespace, GateState.VERIFIED)
        await claims.claim_lookup(7, CHAT, USER)
        other = RedisGateClaims(redis, lease_seconds=LEASE, namespace=f"{namespace}other:")
        found = await other.claim_lookup(7, CHAT, USER)
        assert (found.claim, found.lookup) == (
            ClaimState.CLAIMED,
            GateLookup(GateState.GROUP_UNKNOWN),
        )
        await redis.delete(f"{namespace}other:update:7", f"{namespace}other:update_attempts:7")

    async def test_recovers_after_a_script_flush(
        self, redis: Redis, namespace: str, claims: RedisGateClaims
    ) -> None:
        await arrange(redis, namespace, GateState.VERIFIED)
        await claims.claim_lookup(8, CHAT, USER)
        await redis.script_flush()
        assert (await claims.claim_lookup(9, CHAT, USER)).lookup == GateLookup(GateState.VERIFIED)

    @pytest.mark.parametrize("state", [GateState.VERIFIED, GateState.CHECK], ids=str)
    async def test_one_round_trip(
        self, spied_redis: Redis, namespace: str, wire: list[list[str]], state: GateState
    ) -> None:
        await arrange(spied_redis, namespace, state)
        claims = RedisGateClaims(spied_redis, lease_seconds=LEASE, namespace=namespace)
        await claims.claim_lookup(10, CHAT, USER)  # connects and loads the script
        wire.clear()
        await claims.claim_lookup(11, CHAT, USER)
        assert wire == [["EVALSHA"]]
