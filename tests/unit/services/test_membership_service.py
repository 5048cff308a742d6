"""MembershipChecker: cache first, one Bot API call per miss."""

from __future__ import annotations

import asyncio

from gmbot.domain.telegram import MemberListInaccessible, MemberStatus, TelegramUnavailable
from tests.unit.services.support import CH_A, CH_B, USER, USER2, Env, build_env, standard_world


async def test_cache_hit_makes_no_call(env: Env) -> None:
    await env.members.put(USER, CH_A, True)
    await env.members.put(USER, CH_B, False)
    result = await env.checker.check(USER, [CH_A, CH_B])
    assert result.joined == {CH_A}
    assert result.missing == {CH_B}
    assert not result.complete
    assert env.telegram.calls == []
    assert env.counter("bot_cache_lookups_total", cache="verify", result="hit") == 2


async def test_miss_makes_one_call_and_caches_the_answer(env: Env) -> None:
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    result = await env.checker.check(USER, [CH_A, CH_B])
    assert result.joined == {CH_A}
    assert result.missing == {CH_B}
    assert env.telegram.count("get_member") == 2
    assert env.members.peek(USER, CH_A) is True
    assert env.members.peek(USER, CH_B) is False
    assert env.counter("bot_cache_lookups_total", cache="verify", result="miss") == 2

    again = await env.checker.check(USER, [CH_A, CH_B])
    assert (again.joined, again.missing) == ({CH_A}, {CH_B})
    assert env.telegram.count("get_member") == 2
    assert not env.throttle.held(f"lookup:{USER}:{CH_A}")  # the lock was released


async def test_restricted_channel_member_counts_only_while_in_the_channel(env: Env) -> None:
    env.telegram.set_member(CH_A, USER, MemberStatus.RESTRICTED, is_member=True)
    env.telegram.set_member(CH_B, USER, MemberStatus.RESTRICTED, is_member=False)
    result = await env.checker.check(USER, [CH_A, CH_B])
    assert (result.joined, result.missing) == ({CH_A}, {CH_B})


async def test_known_missing_channels_are_not_asked(env: Env) -> None:
    env.telegram.set_member(CH_B, USER, MemberStatus.MEMBER)
    result = await env.checker.check(USER, [CH_A, CH_B], known_missing=[CH_A])
    assert (result.joined, result.missing) == ({CH_B}, {CH_A})
    assert [c.args["chat_id"] for c in env.telegram.calls_of("get_member")] == [CH_B]


async def test_concurrent_misses_for_one_pair_make_one_call() -> None:
    env = build_env(latency=0.01)
    standard_world(env)
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)

    results = await asyncio.gather(*(env.checker.check(USER, [CH_A]) for _ in range(10)))

    assert all(r.joined == {CH_A} and r.complete for r in results)
    assert env.telegram.count("get_member") == 1
    assert env.throttle.acquired == [f"lookup:{USER}:{CH_A}"]
    assert len(env.throttle.refused) == 9  # the others waited for the cache
    # Different pairs do not wait for each other.
    env.telegram.calls.clear()
    await asyncio.gather(env.checker.check(USER2, [CH_A]), env.checker.check(USER2, [CH_B]))
    assert env.telegram.count("get_member") == 2


async def test_waiters_ask_themselves_when_the_answer_never_comes() -> None:
    env = build_env(latency=0.01)
    standard_world(env)
    # Someone else holds the lock and never writes the cache.
    assert await env.throttle.acquire(f"lookup:{USER}:{CH_A}", 60)
    result = await env.checker.check(USER, [CH_A])
    assert result.missing == {CH_A}
    assert env.telegram.count("get_member") == 1


async def test_fresh_bypasses_the_cache_and_refreshes_it(env: Env) -> None:
    await env.members.put(USER, CH_A, True)  # stale: the user left meanwhile
    result = await env.checker.check(USER, [CH_A], fresh=True)
    assert result.missing == {CH_A}
    assert env.telegram.count("get_member") == 1
    assert env.members.peek(USER, CH_A) is False
    assert env.members.gets == 0
    assert env.throttle.acquired == []  # no lock for a fresh look


async def test_unavailable_is_unknown_and_not_cached(env: Env) -> None:
    env.telegram.fail("get_member", TelegramUnavailable("down"))
    result = await env.checker.check(USER, [CH_A])
    assert result.unknown == {CH_A}
    assert result.inaccessible == set()
    assert not result.complete
    assert env.members.peek(USER, CH_A) is None
    assert not env.throttle.held(f"lookup:{USER}:{CH_A}")


async def test_inaccessible_channel_is_unknown_and_flagged(env: Env) -> None:
    env.telegram.fail("get_member", MemberListInaccessible("member list is inaccessible"))
    result = await env.checker.check(USER, [CH_A])
    assert result.unknown == {CH_A}
    assert result.inaccessible == {CH_A}
    assert env.members.peek(USER, CH_A) is None
