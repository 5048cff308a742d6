"""RedisGateCache on fakeredis: every lookup state, its precedence, and the config cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisGateCache, RedisMembershipCache
from gmbot.domain.models import ChannelMode, GroupSettings, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import GateLookup, GateState

CHAT, USER, ADMIN, OTHER = -1001, 42, 7, 99
CH_A, CH_B, CH_C = -1002000000001, -1002000000002, -1002000000003
NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def group(*channel_ids: int, enabled: bool = True) -> ProtectedGroup:
    return ProtectedGroup(
        chat_id=CHAT,
        title="Group",
        protected_by=ADMIN,
        protected_at=NOW,
        enabled=enabled,
        channels=tuple(LinkedChannel(c, f"channel {c}") for c in channel_ids),
    )


@pytest.fixture
def cache(redis: Redis) -> RedisGateCache:
    return RedisGateCache(redis, namespace="t:")


@pytest.fixture
def members(redis: Redis) -> RedisMembershipCache:
    return RedisMembershipCache(redis, namespace="t:")


async def protect(cache: RedisGateCache, *channels: int, exempt: tuple[int, ...] = ()) -> None:
    await cache.put_group(CHAT, group(*channels), exempt, 300)
    await cache.put_admins(CHAT, [ADMIN], 300)


# --------------------------------------------------------------------------- lookup


async def test_nothing_cached_is_group_unknown(cache: RedisGateCache) -> None:
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.GROUP_UNKNOWN)


@pytest.mark.parametrize(
    "cached",
    [None, group(CH_A, enabled=False), group()],
    ids=["known-unprotected", "disabled", "no-channel"],
)
async def test_not_active_is_unprotected(
    cache: RedisGateCache, cached: ProtectedGroup | None
) -> None:
    await cache.put_group(CHAT, cached, [], 300)
    # Checked before the admin list: an unprotected group never needs one.
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.UNPROTECTED)


async def test_admin_list_not_cached(cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, group(CH_A), [USER], 300)
    # Checked before exempt: exemption is only looked at once admins are known.
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.ADMINS_UNKNOWN)


async def test_admin_wins_over_exempt_and_channels(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A, exempt=(ADMIN,))
    await members.put(ADMIN, CH_A, False)
    assert await cache.lookup(CHAT, ADMIN) == GateLookup(GateState.ADMIN)


async def test_exempt_wins_over_channels(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A, exempt=(USER,))
    await members.put(USER, CH_A, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.EXEMPT)
    assert await cache.lookup(CHAT, OTHER) == GateLookup(GateState.CHECK, unknown=(CH_A,))


async def test_verified_when_every_channel_is_joined(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A, CH_B)
    await members.put(USER, CH_A, True)
    await members.put(USER, CH_B, True)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.VERIFIED)


async def test_check_lists_unknown_and_missing_channels_in_order(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A, CH_B, CH_C)
    await members.put(USER, CH_B, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_A, CH_C), missing=(CH_B,)
    )
    await members.put(USER, CH_A, True)
    await members.put(USER, CH_C, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(), missing=(CH_B, CH_C)
    )


async def test_any_mode_verifies_at_the_first_joined_channel(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    any_group = replace(group(CH_A, CH_B, CH_C), settings=GroupSettings(mode=ChannelMode.ANY))
    await cache.put_group(CHAT, any_group, [], 300)
    await cache.put_admins(CHAT, [ADMIN], 300)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_A, CH_B, CH_C))
    await members.put(USER, CH_A, False)
    await members.put(USER, CH_C, True)  # the others unknown or "no": still verified
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.VERIFIED)
    await members.put(USER, CH_B, False)
    await members.put(USER, CH_C, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.CHECK, missing=(CH_A, CH_B, CH_C))


async def test_mode_is_stored_in_the_hash_for_the_script(
    redis: Redis, cache: RedisGateCache
) -> None:
    await cache.put_group(CHAT, group(CH_A), [], 300)
    assert await redis.hget(f"t:grp:{CHAT}", "any") == b"0"
    any_group = replace(group(CH_A), settings=GroupSettings(mode=ChannelMode.ANY))
    await cache.put_group(CHAT, any_group, [], 300)
    assert await redis.hget(f"t:grp:{CHAT}", "any") == b"1"


async def test_membership_of_another_user_does_not_count(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A)
    await members.put(OTHER, CH_A, True)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_A,))


async def test_admin_list_cached_empty_differs_from_not_cached(cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, group(CH_A), [], 300)
    await cache.put_admins(CHAT, [], 300)
    assert (await cache.lookup(CHAT, USER)).state is GateState.CHECK
    await cache.drop_admins(CHAT)
    assert (await cache.lookup(CHAT, USER)).state is GateState.ADMINS_UNKNOWN


async def test_put_admins_replaces_the_list(cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, group(CH_A), [], 300)
    await cache.put_admins(CHAT, [USER], 300)
    assert (await cache.lookup(CHAT, USER)).state is GateState.ADMIN
    await cache.put_admins(CHAT, [ADMIN], 300)
    assert (await cache.lookup(CHAT, USER)).state is GateState.CHECK


async def test_put_group_replaces_exempt_set_and_channels(cache: RedisGateCache) -> None:
    await protect(cache, CH_A, exempt=(USER,))
    await cache.put_group(CHAT, group(CH_B), [OTHER], 300)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_B,))
    assert (await cache.lookup(CHAT, OTHER)).state is GateState.EXEMPT


async def test_namespaces_do_not_see_each_other(redis: Redis, cache: RedisGateCache) -> None:
    await protect(cache, CH_A)
    other = RedisGateCache(redis, namespace="u:")
    assert (await other.lookup(CHAT, USER)).state is GateState.GROUP_UNKNOWN


async def test_lookup_recovers_after_script_flush(
    redis: Redis, cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await protect(cache, CH_A)
    await members.put(USER, CH_A, True)
    assert (await cache.lookup(CHAT, USER)).state is GateState.VERIFIED
    await redis.script_flush()
    assert (await cache.lookup(CHAT, USER)).state is GateState.VERIFIED


@pytest.mark.parametrize("mode", list(ChannelMode))
@pytest.mark.parametrize("joined", [True, False, None], ids=["verified", "missing", "unknown"])
async def test_lookup_is_one_round_trip(
    spied_redis: Redis, wire: list[list[str]], joined: bool | None, mode: ChannelMode
) -> None:
    cache = RedisGateCache(spied_redis, namespace="t:")
    await protect(cache, CH_A, CH_B)
    await cache.put_group(
        CHAT, replace(group(CH_A, CH_B), settings=GroupSettings(mode=mode)), [], 300
    )
    if joined is not None:
        members = RedisMembershipCache(spied_redis, namespace="t:")
        await members.put(USER, CH_A, joined)
        await members.put(USER, CH_B, joined)
    await cache.lookup(CHAT, USER)  # connects and loads the script
    wire.clear()
    await cache.lookup(CHAT, USER)
    assert wire == [["EVALSHA"]]


# --------------------------------------------------------------------------- put / get / drop


async def test_put_group_is_one_transaction(spied_redis: Redis, wire: list[list[str]]) -> None:
    cache = RedisGateCache(spied_redis, namespace="t:")
    await spied_redis.ping()
    wire.clear()
    await cache.put_group(CHAT, group(CH_A), [USER], 300)
    assert wire == [["MULTI", "DEL", "HSET", "EXPIRE", "SADD", "EXPIRE", "EXEC"]]


async def test_put_group_sets_one_ttl_on_every_key(redis: Redis, cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, group(CH_A), [USER], 300)
    ttls = {await redis.ttl(f"t:grp:{CHAT}"), await redis.ttl(f"t:exempt:{CHAT}")}
    assert len(ttls) == 1
    assert 299 <= ttls.pop() <= 300
    await cache.put_admins(CHAT, [ADMIN], 120)
    assert 119 <= await redis.ttl(f"t:admins:{CHAT}") <= 120


async def test_get_group_not_cached(cache: RedisGateCache) -> None:
    assert await cache.get_group(CHAT) == (False, None)


async def test_get_group_known_not_protected(cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, None, [], 300)
    assert await cache.get_group(CHAT) == (True, None)


async def test_get_group_round_trips_a_disabled_group(cache: RedisGateCache) -> None:
    disabled = group(CH_A, enabled=False)
    await cache.put_group(CHAT, disabled, [], 300)
    assert await cache.get_group(CHAT) == (True, disabled)


async def test_unreadable_group_counts_as_not_cached(redis: Redis, cache: RedisGateCache) -> None:
    await cache.put_group(CHAT, group(CH_A), [], 300)
    await redis.hset(f"t:grp:{CHAT}", "full", b"{not json")
    assert await cache.get_group(CHAT) == (False, None)


async def test_drop_group(redis: Redis, cache: RedisGateCache) -> None:
    await protect(cache, CH_A, exempt=(USER,))
    await cache.drop_group(CHAT)
    assert await cache.get_group(CHAT) == (False, None)
    assert (await cache.lookup(CHAT, USER)).state is GateState.GROUP_UNKNOWN
    assert not await redis.exists(f"t:exempt:{CHAT}")
