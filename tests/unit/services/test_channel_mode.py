"""ChannelMode: ALL needs every linked channel, ANY one of them (gate, checker, button,
channel joins)."""

from __future__ import annotations

from gmbot.domain.models import ChannelMode, GroupSettings
from gmbot.domain.telegram import MemberStatus
from gmbot.services.gate import Verdict
from gmbot.services.membership import Membership
from gmbot.services.verification import ButtonOutcome
from tests.unit.services.support import (
    CH_A,
    CH_B,
    CHAT,
    USER,
    Env,
    channel_a,
    channel_b,
    message,
)

ANY = GroupSettings(mode=ChannelMode.ANY)


def join(env: Env, user_id: int, *channels: int) -> None:
    for channel in channels:
        env.telegram.set_member(channel, user_id, MemberStatus.MEMBER)


def test_satisfied_by_mode() -> None:
    one = Membership(joined={CH_A}, missing={CH_B})
    assert one.satisfied(ChannelMode.ANY)
    assert not one.satisfied(ChannelMode.ALL)
    both = Membership(joined={CH_A, CH_B})
    assert both.satisfied(ChannelMode.ALL)
    assert both.satisfied(ChannelMode.ANY)
    unknown = Membership(unknown={CH_A})
    assert not unknown.satisfied(ChannelMode.ANY)
    assert not unknown.satisfied(ChannelMode.ALL)


async def test_any_mode_cached_one_joined_passes_in_one_lookup(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], settings=ANY)
    await env.warm()
    await env.members.put(USER, CH_A, False)
    await env.members.put(USER, CH_B, True)
    env.reset_counters()

    assert await env.gate.on_message(message(env)) is Verdict.PASSED

    assert env.gate_cache.lookups == 1
    assert env.telegram.calls == []
    assert env.uow.opened == 0


async def test_all_mode_cached_one_joined_is_removed(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    await env.warm()
    await env.members.put(USER, CH_A, False)
    await env.members.put(USER, CH_B, True)
    assert await env.gate.on_message(message(env)) is Verdict.REMOVED


async def test_any_mode_none_joined_is_removed_without_telegram(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], settings=ANY)
    await env.warm()
    await env.members.put(USER, CH_A, False)
    await env.members.put(USER, CH_B, False)
    env.reset_counters()
    assert await env.gate.on_message(message(env)) is Verdict.REMOVED
    assert env.telegram.calls == []
    await env.drain()
    assert env.telegram.is_muted(CHAT, USER)


async def test_any_mode_worker_check_stops_at_the_first_joined_channel(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], settings=ANY)
    join(env, USER, CH_A)
    msg = message(env)
    assert await env.gate.on_message(msg) is Verdict.QUEUED
    await env.drain()
    assert not env.telegram.is_muted(CHAT, USER)
    assert msg.message_id in env.telegram.messages[CHAT]
    # Channel A answered "joined": channel B was never asked.
    assert env.telegram.count("get_member") == 1
    assert env.members.peek(USER, CH_B) is None


async def test_all_mode_worker_check_asks_every_channel(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    join(env, USER, CH_A)
    assert await env.gate.on_message(message(env)) is Verdict.QUEUED
    await env.drain()
    assert env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("get_member") == 2


async def test_any_mode_button_verifies_with_one_channel(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], settings=ANY)
    assert await env.gate.on_message(message(env)) is Verdict.QUEUED
    await env.drain()
    prompt = await env.prompts.current(CHAT, USER)
    assert prompt is not None
    assert env.telegram.is_muted(CHAT, USER)

    still = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert still.outcome is ButtonOutcome.STILL_MISSING
    assert still.missing == (channel_a(), channel_b())  # either of them would do

    join(env, USER, CH_B)
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert not env.telegram.is_muted(CHAT, USER)


async def test_any_mode_channel_join_unmutes(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], settings=ANY)
    assert await env.gate.on_message(message(env)) is Verdict.QUEUED
    await env.drain()
    assert env.telegram.is_muted(CHAT, USER)
    join(env, USER, CH_B)
    assert await env.verification.channel_joined(CH_B, USER) == [CHAT]
    assert not env.telegram.is_muted(CHAT, USER)


async def test_all_mode_channel_join_of_one_keeps_the_mute(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    assert await env.gate.on_message(message(env)) is Verdict.QUEUED
    await env.drain()
    join(env, USER, CH_B)
    assert await env.verification.channel_joined(CH_B, USER) == []
    assert env.telegram.is_muted(CHAT, USER)
