"""RedisGateCache against a real Redis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisGateCache, RedisMembershipCache
from gmbot.domain.models import (
    ChannelMode,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.ports import GateLookup, GateState

pytestmark = pytest.mark.redis

CHAT, USER, ADMIN = -1001, 42, 7
CH_A, CH_B, CH_C = -1002000000001, -1002000000002, -1002000000003
GROUP = ProtectedGroup(
    chat_id=CHAT,
    title="Группа",
    protected_by=None,
    protected_at=datetime(2024, 5, 1, 12, 30, 15, 5, tzinfo=UTC),
    settings=GroupSettings(action=GateAction.DELETE, mute_seconds=None),
    channels=(
        LinkedChannel(CH_A, "A", username="a"),
        LinkedChannel(CH_B, "B", invite_link="https://t.me/+b", bot_is_admin=False),
        LinkedChannel(CH_C, "C"),
    ),
    missing_rights=("can_delete_messages",),
)


@pytest.fixture
def cache(redis: Redis, namespace: str) -> RedisGateCache:
    return RedisGateCache(redis, namespace=namespace)


@pytest.fixture
def members(redis: Redis, namespace: str) -> RedisMembershipCache:
    return RedisMembershipCache(redis, namespace=namespace)


async def test_lookup_walks_the_precedence_ladder(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    async def state() -> GateLookup:
        return await cache.lookup(CHAT, USER)

    assert await state() == GateLookup(GateState.GROUP_UNKNOWN)
    await cache.put_group(CHAT, None, [USER], 60)
    assert await state() == GateLookup(GateState.UNPROTECTED)
    await cache.put_group(CHAT, GROUP, [USER], 60)
    assert await state() == GateLookup(GateState.ADMINS_UNKNOWN)
    await cache.put_admins(CHAT, [USER, ADMIN], 60)
    assert await state() == GateLookup(GateState.ADMIN)
    await cache.put_admins(CHAT, [], 60)  # cached, and empty
    assert await state() == GateLookup(GateState.EXEMPT)
    await cache.put_group(CHAT, GROUP, [], 60)
    assert await state() == GateLookup(GateState.CHECK, unknown=(CH_A, CH_B, CH_C))
    await members.put(USER, CH_A, True)
    await members.put(USER, CH_C, False)
    assert await state() == GateLookup(GateState.CHECK, unknown=(CH_B,), missing=(CH_C,))
    await members.put(USER, CH_B, True)
    await members.put(USER, CH_C, True)
    assert await state() == GateLookup(GateState.VERIFIED)
    await cache.drop_admins(CHAT)
    assert await state() == GateLookup(GateState.ADMINS_UNKNOWN)
    await cache.drop_group(CHAT)
    assert await state() == GateLookup(GateState.GROUP_UNKNOWN)


async def test_any_mode_one_joined_channel_verifies(
    cache: RedisGateCache, members: RedisMembershipCache
) -> None:
    await cache.put_group(
        CHAT, replace(GROUP, settings=GroupSettings(mode=ChannelMode.ANY)), [], 60
    )
    await cache.put_admins(CHAT, [ADMIN], 60)
    await members.put(USER, CH_A, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_B, CH_C), missing=(CH_A,)
    )
    await members.put(USER, CH_B, False)
    await members.put(USER, CH_C, False)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.CHECK, missing=(CH_A, CH_B, CH_C))
    await members.put(USER, CH_B, True)
    assert await cache.lookup(CHAT, USER) == GateLookup(GateState.VERIFIED)


async def test_lookup_is_one_evalsha(
    spied_redis: Redis,
    wire: list[list[str]],
    cache: RedisGateCache,
    members: RedisMembershipCache,
    namespace: str,
) -> None:
    await cache.put_group(CHAT, GROUP, [], 60)
    await cache.put_admins(CHAT, [ADMIN], 60)
    for channel in (CH_A, CH_B, CH_C):
        await members.put(USER, channel, True)
    spied_cache = RedisGateCache(spied_redis, namespace=namespace)
    assert (await spied_cache.lookup(CHAT, USER)).state is GateState.VERIFIED  # warms up
    wire.clear()
    assert (await spied_cache.lookup(CHAT, USER)).state is GateState.VERIFIED
    assert wire == [["EVALSHA"]]


async def test_group_round_trip_and_ttls(
    redis: Redis, cache: RedisGateCache, namespace: str
) -> None:
    assert await cache.get_group(CHAT) == (False, None)
    await cache.put_group(CHAT, GROUP, [USER, ADMIN], 120)
    assert await cache.get_group(CHAT) == (True, GROUP)
    assert await redis.hget(f"{namespace}grp:{CHAT}", "ch") == f"{CH_A},{CH_B},{CH_C}".encode()
    assert await redis.smembers(f"{namespace}exempt:{CHAT}") == {b"42", b"7"}
    ttls = {await redis.ttl(f"{namespace}grp:{CHAT}"), await redis.ttl(f"{namespace}exempt:{CHAT}")}
    assert len(ttls) == 1
    assert 119 <= ttls.pop() <= 120
    await cache.put_group(CHAT, None, [], 120)
    assert await cache.get_group(CHAT) == (True, None)
    assert not await redis.exists(f"{namespace}exempt:{CHAT}")
    await cache.drop_group(CHAT)
    assert await cache.get_group(CHAT) == (False, None)


async def test_put_group_is_one_transaction(
    spied_redis: Redis, wire: list[list[str]], namespace: str
) -> None:
    cache = RedisGateCache(spied_redis, namespace=namespace)
    await spied_redis.ping()
    wire.clear()
    await cache.put_group(CHAT, GROUP, [USER], 60)
    assert wire == [["MULTI", "DEL", "HSET", "EXPIRE", "SADD", "EXPIRE", "EXEC"]]
