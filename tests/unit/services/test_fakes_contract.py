"""The same behaviour checks against the in-memory cache fakes and the Redis adapters
(on fakeredis), so the fakes the service tests rely on cannot drift from the real thing.

Both run on one FakeClock: fakeredis reads the time through its socket module's
`time`, which is pointed at the clock for the Redis backend.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fakeredis
import fakeredis._socket._base as fakeredis_socket
import pytest

from gmbot.cache import RedisGateCache, RedisMembershipCache, RedisPromptStore, RedisThrottle
from gmbot.domain.models import (
    ChannelMode,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.ports import (
    DueDeletion,
    GateCache,
    GateLookup,
    GateState,
    MembershipCache,
    PromptStore,
    Throttle,
)
from tests.fakes.clock import FakeClock
from tests.fakes.gate_cache import InMemoryGateCache
from tests.fakes.membership_cache import InMemoryMembershipCache
from tests.fakes.prompt_store import InMemoryPromptStore
from tests.fakes.throttle import InMemoryThrottle

CHAT, USER, ADMIN, OTHER = -1001, 42, 7, 99
CH_A, CH_B, CH_C = -1002000000001, -1002000000002, -1002000000003
NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
TTL, NEGATIVE_TTL = 600, 30


@dataclass
class Caches:
    kind: str
    clock: FakeClock
    gate: GateCache
    members: MembershipCache
    throttle: Throttle
    prompts: PromptStore


class _ClockAsTimeModule:
    """Stands in for the `time` module inside fakeredis' socket."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock()

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


@pytest.fixture(params=["memory", "redis"])
async def caches(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Caches]:
    clock = FakeClock()
    if request.param == "memory":
        members = InMemoryMembershipCache(clock, ttl=TTL, jitter=0.0, negative_ttl=NEGATIVE_TTL)
        yield Caches(
            "memory",
            clock,
            InMemoryGateCache(members, clock),
            members,
            InMemoryThrottle(clock),
            InMemoryPromptStore(clock),
        )
        return
    monkeypatch.setattr(fakeredis_socket, "time", _ClockAsTimeModule(clock))
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    ns = "c:"
    yield Caches(
        "redis",
        clock,
        RedisGateCache(redis, namespace=ns),
        RedisMembershipCache(redis, ttl=TTL, jitter=0.0, negative_ttl=NEGATIVE_TTL, namespace=ns),
        RedisThrottle(redis, namespace=ns),
        RedisPromptStore(redis, namespace=ns),
    )
    await redis.aclose()


def group(*channel_ids: int, enabled: bool = True, **extra: Any) -> ProtectedGroup:
    return ProtectedGroup(
        chat_id=CHAT,
        title="Group",
        protected_by=ADMIN,
        protected_at=NOW,
        enabled=enabled,
        channels=tuple(LinkedChannel(c, f"channel {c}") for c in channel_ids),
        **extra,
    )


async def protect(c: Caches, *channels: int, exempt: tuple[int, ...] = ()) -> None:
    await c.gate.put_group(CHAT, group(*channels), exempt, 300)
    await c.gate.put_admins(CHAT, [ADMIN], 300)


# --------------------------------------------------------------------------- gate cache


async def test_clock_drives_the_backend(caches: Caches) -> None:
    # Sanity check of the fixture itself: without a working clock the TTL checks
    # below would prove nothing.
    await caches.throttle.acquire("k", 10)
    caches.clock.advance(9.9)
    assert not await caches.throttle.acquire("k", 10)
    caches.clock.advance(0.2)
    assert await caches.throttle.acquire("k", 10)


async def test_nothing_cached_is_group_unknown(caches: Caches) -> None:
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.GROUP_UNKNOWN)
    assert await caches.gate.get_group(CHAT) == (False, None)


@pytest.mark.parametrize(
    "cached",
    [None, group(CH_A, enabled=False), group()],
    ids=["known-unprotected", "disabled", "no-channel"],
)
async def test_inactive_is_unprotected_even_without_admins(
    caches: Caches, cached: ProtectedGroup | None
) -> None:
    await caches.gate.put_group(CHAT, cached, [USER], 300)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.UNPROTECTED)
    assert await caches.gate.get_group(CHAT) == (True, cached)


async def test_admins_unknown_until_cached(caches: Caches) -> None:
    await caches.gate.put_group(CHAT, group(CH_A), [], 300)
    assert await caches.gate.lookup(CHAT, ADMIN) == GateLookup(GateState.ADMINS_UNKNOWN)
    await caches.gate.put_admins(CHAT, [ADMIN], 300)
    assert await caches.gate.lookup(CHAT, ADMIN) == GateLookup(GateState.ADMIN)
    await caches.gate.drop_admins(CHAT)
    assert await caches.gate.lookup(CHAT, ADMIN) == GateLookup(GateState.ADMINS_UNKNOWN)


async def test_empty_admin_list_still_counts_as_cached(caches: Caches) -> None:
    await caches.gate.put_group(CHAT, group(CH_A), [], 300)
    await caches.gate.put_admins(CHAT, [], 300)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_A,))


async def test_precedence_admin_then_exempt_then_verified(caches: Caches) -> None:
    await protect(caches, CH_A, exempt=(ADMIN, USER))
    for user in (ADMIN, USER, OTHER):
        await caches.members.put(user, CH_A, True)
    assert (await caches.gate.lookup(CHAT, ADMIN)).state is GateState.ADMIN
    assert (await caches.gate.lookup(CHAT, USER)).state is GateState.EXEMPT
    assert (await caches.gate.lookup(CHAT, OTHER)).state is GateState.VERIFIED


async def test_check_lists_unknown_and_missing_in_channel_order(caches: Caches) -> None:
    await protect(caches, CH_A, CH_B, CH_C)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_A, CH_B, CH_C)
    )
    await caches.members.put(USER, CH_A, False)
    await caches.members.put(USER, CH_B, True)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_C,), missing=(CH_A,)
    )
    await caches.members.put(USER, CH_A, True)
    await caches.members.put(USER, CH_C, True)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.VERIFIED)
    # Another user's entries are not this user's.
    assert (await caches.gate.lookup(CHAT, OTHER)).unknown == (CH_A, CH_B, CH_C)


async def test_any_mode_is_verified_by_one_joined_channel(caches: Caches) -> None:
    any_group = group(CH_A, CH_B, CH_C, settings=GroupSettings(mode=ChannelMode.ANY))
    await caches.gate.put_group(CHAT, any_group, (), 300)
    await caches.gate.put_admins(CHAT, [ADMIN], 300)
    # None known joined, some unknown: a look-up is needed, the known "no" listed.
    await caches.members.put(USER, CH_A, False)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_B, CH_C), missing=(CH_A,)
    )
    # One joined is enough, even after a "no" and before an unknown.
    await caches.members.put(USER, CH_B, True)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.VERIFIED)
    # All known and none joined: the missing list.
    await caches.members.put(OTHER, CH_A, False)
    await caches.members.put(OTHER, CH_B, False)
    await caches.members.put(OTHER, CH_C, False)
    assert await caches.gate.lookup(CHAT, OTHER) == GateLookup(
        GateState.CHECK, missing=(CH_A, CH_B, CH_C)
    )
    # Back to ALL: the one joined channel no longer verifies.
    await caches.gate.put_group(CHAT, group(CH_A, CH_B, CH_C), (), 300)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(
        GateState.CHECK, unknown=(CH_C,), missing=(CH_A,)
    )


async def test_put_group_replaces_config_and_exempt_set(caches: Caches) -> None:
    await protect(caches, CH_A, exempt=(USER,))
    assert (await caches.gate.lookup(CHAT, USER)).state is GateState.EXEMPT
    await caches.gate.put_group(CHAT, group(CH_B), [OTHER], 300)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_B,))
    assert (await caches.gate.lookup(CHAT, OTHER)).state is GateState.EXEMPT
    await caches.gate.put_group(CHAT, group(CH_B), [], 300)
    assert (await caches.gate.lookup(CHAT, OTHER)).state is GateState.CHECK


async def test_drop_group_forgets_config_and_exempt_but_keeps_admins(caches: Caches) -> None:
    await protect(caches, CH_A, exempt=(USER,))
    await caches.gate.drop_group(CHAT)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.GROUP_UNKNOWN)
    assert await caches.gate.get_group(CHAT) == (False, None)
    await caches.gate.put_group(CHAT, group(CH_A), [], 300)
    assert (await caches.gate.lookup(CHAT, USER)).state is GateState.CHECK
    assert (await caches.gate.lookup(CHAT, ADMIN)).state is GateState.ADMIN


async def test_get_group_round_trips_every_field(caches: Caches) -> None:
    full = ProtectedGroup(
        chat_id=CHAT,
        title="Grüße <b>",
        protected_by=None,
        protected_at=NOW,
        enabled=True,
        settings=GroupSettings(GateAction.DELETE, 90, 120, False),
        channels=(
            LinkedChannel(CH_A, "A", username="chan_a"),
            LinkedChannel(CH_B, "B", invite_link="https://t.me/+x", bot_is_admin=False),
        ),
        linked_chat_id=CH_C,
        missing_rights=("can_restrict_members",),
    )
    await caches.gate.put_group(CHAT, full, [], 300)
    assert await caches.gate.get_group(CHAT) == (True, full)


async def test_group_and_exempt_expire_with_their_ttl(caches: Caches) -> None:
    await caches.gate.put_group(CHAT, group(CH_A), [USER], 100)
    await caches.gate.put_admins(CHAT, [ADMIN], 1000)
    caches.clock.advance(99)
    assert (await caches.gate.lookup(CHAT, USER)).state is GateState.EXEMPT
    caches.clock.advance(2)
    assert (await caches.gate.lookup(CHAT, USER)).state is GateState.GROUP_UNKNOWN
    assert await caches.gate.get_group(CHAT) == (False, None)
    # The admin list lives on its own TTL.
    await caches.gate.put_group(CHAT, group(CH_A), [], 100)
    assert (await caches.gate.lookup(CHAT, ADMIN)).state is GateState.ADMIN


async def test_admins_expire_with_their_ttl(caches: Caches) -> None:
    await caches.gate.put_group(CHAT, group(CH_A), [], 1000)
    await caches.gate.put_admins(CHAT, [ADMIN], 50)
    caches.clock.advance(49)
    assert (await caches.gate.lookup(CHAT, ADMIN)).state is GateState.ADMIN
    caches.clock.advance(2)
    assert (await caches.gate.lookup(CHAT, ADMIN)).state is GateState.ADMINS_UNKNOWN


async def test_lookup_sees_membership_expiry(caches: Caches) -> None:
    await protect(caches, CH_A, CH_B)
    await caches.gate.put_group(CHAT, group(CH_A, CH_B), [], 10_000)
    await caches.gate.put_admins(CHAT, [ADMIN], 10_000)
    await caches.members.put(USER, CH_A, False)
    await caches.members.put(USER, CH_B, True)
    caches.clock.advance(NEGATIVE_TTL + 1)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_A,))
    caches.clock.advance(TTL)
    assert await caches.gate.lookup(CHAT, USER) == GateLookup(GateState.CHECK, unknown=(CH_A, CH_B))


# --------------------------------------------------------------------------- membership


async def test_membership_get_put_drop(caches: Caches) -> None:
    m = caches.members
    assert await m.get(USER, CH_A) is None
    await m.put(USER, CH_A, True)
    assert await m.get(USER, CH_A) is True
    assert await m.get(OTHER, CH_A) is None
    assert await m.get(USER, CH_B) is None
    await m.put(USER, CH_A, False)
    assert await m.get(USER, CH_A) is False
    await m.drop(USER, CH_A)
    assert await m.get(USER, CH_A) is None
    await m.drop(USER, CH_A)  # dropping nothing is fine


async def test_membership_ttls(caches: Caches) -> None:
    m = caches.members
    await m.put(USER, CH_A, True)
    await m.put(USER, CH_B, False)
    caches.clock.advance(NEGATIVE_TTL - 1)
    assert await m.get(USER, CH_B) is False
    caches.clock.advance(2)
    assert await m.get(USER, CH_B) is None
    assert await m.get(USER, CH_A) is True
    caches.clock.advance(TTL - NEGATIVE_TTL - 2)
    assert await m.get(USER, CH_A) is True
    caches.clock.advance(2)
    assert await m.get(USER, CH_A) is None


async def test_joined_replaces_not_joined_and_its_short_ttl(caches: Caches) -> None:
    await caches.members.put(USER, CH_A, False)
    await caches.members.put(USER, CH_A, True)
    caches.clock.advance(NEGATIVE_TTL + 5)
    assert await caches.members.get(USER, CH_A) is True


def _membership_cache(kind: str, clock: FakeClock, **settings: Any) -> MembershipCache:
    if kind == "memory":
        return InMemoryMembershipCache(clock, **settings)
    return RedisMembershipCache(fakeredis.FakeAsyncRedis(), rng=random.Random(7), **settings)


@pytest.mark.parametrize("kind", ["memory", "redis"])
@pytest.mark.parametrize(
    "settings", [{"ttl": 0}, {"negative_ttl": -1}, {"jitter": 1.0}, {"jitter": -0.1}]
)
def test_membership_rejects_nonsense_settings(kind: str, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        _membership_cache(kind, FakeClock(), **settings)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_jittered_joined_entry_lives_within_the_jitter_window(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alive at ttl*(1-jitter) - 1, gone after ttl*(1+jitter) + 1.
    clock = FakeClock()
    monkeypatch.setattr(fakeredis_socket, "time", _ClockAsTimeModule(clock))
    members = _membership_cache(kind, clock, ttl=100, jitter=0.2, negative_ttl=10)
    for user in range(20):
        await members.put(user, CH_A, True)
    clock.advance(79)
    assert [await members.get(user, CH_A) for user in range(20)] == [True] * 20
    clock.advance(42)
    assert [await members.get(user, CH_A) for user in range(20)] == [None] * 20


# --------------------------------------------------------------------------- throttle


async def test_throttle_first_caller_wins_until_release(caches: Caches) -> None:
    t = caches.throttle
    assert await t.acquire("notify:1", 60)
    assert not await t.acquire("notify:1", 60)
    assert await t.acquire("notify:2", 60)
    await t.release("notify:1")
    assert await t.acquire("notify:1", 60)
    await t.release("never-held")


async def test_throttle_period_expires(caches: Caches) -> None:
    t = caches.throttle
    assert await t.acquire("k", 0.5)
    caches.clock.advance(0.4)
    assert not await t.acquire("k", 0.5)
    caches.clock.advance(0.2)
    assert await t.acquire("k", 0.5)
    # A refused acquire does not extend the period.
    caches.clock.advance(0.4)
    assert not await t.acquire("k", 0.5)
    caches.clock.advance(0.2)
    assert await t.acquire("k", 0.5)


async def test_throttle_remaining_counts_down_the_period(caches: Caches) -> None:
    t = caches.throttle
    assert await t.remaining("k") == 0.0
    assert await t.acquire("k", 2)
    assert await t.remaining("k") == pytest.approx(2, abs=0.01)
    caches.clock.advance(1.5)
    assert await t.remaining("k") == pytest.approx(0.5, abs=0.01)
    caches.clock.advance(0.6)
    assert await t.remaining("k") == 0.0
    assert await t.acquire("k", 2)
    await t.release("k")
    assert await t.remaining("k") == 0.0


async def test_throttle_tiny_period_is_accepted(caches: Caches) -> None:
    assert await caches.throttle.acquire("k", 0.0001)
    caches.clock.advance(0.01)
    assert await caches.throttle.acquire("k", 0.0001)


# --------------------------------------------------------------------------- prompts

MESSAGE = 777


async def test_prompt_slot_lifecycle(caches: Caches) -> None:
    p = caches.prompts
    assert await p.claim(CHAT, USER, 60)
    assert not await p.claim(CHAT, USER, 60)
    assert await p.claim(CHAT, OTHER, 60)  # per user
    assert await p.claim(CHAT + 1, USER, 60)  # per group
    assert await p.current(CHAT, USER) is None  # claimed, not sent yet
    await p.attach(CHAT, USER, MESSAGE, 60)
    assert await p.current(CHAT, USER) == MESSAGE
    assert not await p.claim(CHAT, USER, 60)
    assert await p.clear(CHAT, USER) == MESSAGE
    assert await p.current(CHAT, USER) is None
    assert await p.clear(CHAT, USER) is None
    assert await p.claim(CHAT, USER, 60)


async def test_claim_is_reentrant_for_the_same_message_until_the_prompt_is_sent(
    caches: Caches,
) -> None:
    p = caches.prompts
    assert await p.claim(CHAT, USER, 60, owner=500)
    # The same message, redelivered after a crash between the claim and the send.
    assert await p.claim(CHAT, USER, 60, owner=500)
    assert await p.current(CHAT, USER) is None
    assert not await p.claim(CHAT, USER, 60, owner=501)  # another message: no 2nd prompt
    assert not await p.claim(CHAT, USER, 60)
    await p.attach(CHAT, USER, MESSAGE, 60)
    assert not await p.claim(CHAT, USER, 60, owner=500)  # sent: never twice
    assert await p.clear(CHAT, USER) == MESSAGE


async def test_clear_of_a_pending_slot_frees_it_without_an_id(caches: Caches) -> None:
    assert await caches.prompts.claim(CHAT, USER, 60)
    assert await caches.prompts.clear(CHAT, USER) is None
    assert await caches.prompts.claim(CHAT, USER, 60)


async def test_slot_expires_with_the_claim_ttl(caches: Caches) -> None:
    assert await caches.prompts.claim(CHAT, USER, 60)
    caches.clock.advance(59)
    assert not await caches.prompts.claim(CHAT, USER, 60)
    caches.clock.advance(2)
    assert await caches.prompts.claim(CHAT, USER, 60)


async def test_attach_keeps_the_remaining_ttl(caches: Caches) -> None:
    assert await caches.prompts.claim(CHAT, USER, 60)
    caches.clock.advance(50)
    await caches.prompts.attach(CHAT, USER, MESSAGE, 60)
    caches.clock.advance(9)
    assert await caches.prompts.current(CHAT, USER) == MESSAGE
    caches.clock.advance(2)
    assert await caches.prompts.current(CHAT, USER) is None


async def test_attach_without_a_slot_recreates_it(caches: Caches) -> None:
    await caches.prompts.attach(CHAT, USER, MESSAGE, 30)
    assert await caches.prompts.current(CHAT, USER) == MESSAGE
    assert not await caches.prompts.claim(CHAT, USER, 60)
    caches.clock.advance(31)
    assert await caches.prompts.current(CHAT, USER) is None


async def test_claim_due_hands_out_due_items_once_in_time_order(caches: Caches) -> None:
    p, now = caches.prompts, caches.clock()
    late = DueDeletion(CHAT, 3, USER)
    first = DueDeletion(CHAT, 1, USER)
    second = DueDeletion(CHAT, 2, None)
    future = DueDeletion(CHAT, 4, OTHER)
    await p.schedule_deletion(late, now - 1)
    await p.schedule_deletion(first, now - 10)
    await p.schedule_deletion(second, now - 5)
    await p.schedule_deletion(future, now + 10)
    assert await p.claim_due(now, limit=2) == [first, second]
    assert await p.claim_due(now) == [late]
    assert await p.claim_due(now) == []
    assert await p.claim_due(now + 10) == [future]
    assert await p.claim_due(now + 100) == []


async def test_rescheduling_an_item_moves_it(caches: Caches) -> None:
    p, now = caches.prompts, caches.clock()
    item = DueDeletion(CHAT, 1, USER)
    await p.schedule_deletion(item, now - 1)
    await p.schedule_deletion(item, now + 60)
    assert await p.claim_due(now) == []
    assert await p.claim_due(now + 60) == [item]


async def test_claim_due_with_no_room_takes_nothing(caches: Caches) -> None:
    item = DueDeletion(CHAT, 1, USER)
    await caches.prompts.schedule_deletion(item, caches.clock() - 1)
    assert await caches.prompts.claim_due(caches.clock(), limit=0) == []
    assert await caches.prompts.claim_due(caches.clock()) == [item]
