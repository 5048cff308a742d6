"""VerificationService: the "I've joined" button and channel joins lift GMBot's mutes."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from gmbot.domain.models import AuditKind, GateAction, GroupSettings, LinkedChannel
from gmbot.domain.telegram import MUTED, MemberStatus, TelegramUnavailable
from gmbot.services import texts
from gmbot.services.events import Actor
from gmbot.services.gate import Verdict
from gmbot.services.verification import ButtonOutcome
from tests.fakes.telegram_gateway import DEFAULT_GROUP_PERMISSIONS
from tests.unit.services.support import (
    CH_A,
    CH_B,
    CHAT,
    OTHER_CHAT,
    RECHECK,
    USER,
    USER2,
    Env,
    channel_a,
    channel_b,
    message,
)


async def muted_by_gate(env: Env, chat_id: int = CHAT, user_id: int = USER) -> int:
    """The user posts without being in the channels (a cold cache: the workers look
    them up, then delete, mute and prompt); returns the prompt's message id."""
    assert await env.gate_message(message(env, user_id, chat_id)) is Verdict.QUEUED
    assert env.telegram.is_muted(chat_id, user_id)
    prompt = await env.prompts.current(chat_id, user_id)
    assert prompt is not None
    return prompt


def join(env: Env, user_id: int, *channels: int) -> None:
    for channel in channels:
        env.telegram.set_member(channel, user_id, MemberStatus.MEMBER)


# --------------------------------------------------------------------------- the button


async def test_button_pressed_by_someone_else_is_not_theirs(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    env.reset_counters()
    result = await env.verification.joined_button(CHAT, USER2, USER, prompt)
    assert result.outcome is ButtonOutcome.NOT_YOURS
    assert env.telegram.calls == []
    assert env.uow.opened == 0
    assert env.telegram.is_muted(CHAT, USER)


async def test_still_missing_names_the_channels(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    join(env, USER, CH_A)
    prompt = await muted_by_gate(env)

    result = await env.verification.joined_button(CHAT, USER, USER, prompt)

    assert result.outcome is ButtonOutcome.STILL_MISSING
    assert result.missing == (channel_b(),)
    assert texts.channel_names(result.missing) == "Channel B"
    assert env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is not None
    assert prompt in env.telegram.messages[CHAT]
    assert env.counter("bot_verifications_total", result="button_missing") == 1


async def test_verified_lifts_the_mute_with_the_chat_defaults(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    join(env, USER, CH_A)
    env.telegram.calls.clear()

    with capture_logs() as logs:
        result = await env.verification.joined_button(CHAT, USER, USER, prompt)

    assert result.outcome is ButtonOutcome.VERIFIED
    unmuted = {"event": "user_unmuted", "log_level": "info", "chat_id": CHAT, "user_id": USER}
    assert logs == [{**unmuted, "reason": "button"}]
    [lift] = env.telegram.calls_of("restrict")
    assert lift.args["permissions"] == DEFAULT_GROUP_PERMISSIONS
    assert not all(lift.args["permissions"].values())  # the defaults, not everything
    assert lift.args["until"] is None
    # Telegram made them a plain member again.
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    assert await env.restriction(CHAT, USER) is None
    kinds = await env.audit_kinds()
    assert kinds[-2:] == [AuditKind.VERIFY, AuditKind.UNMUTE]
    assert prompt not in env.telegram.messages[CHAT]
    assert await env.prompts.current(CHAT, USER) is None
    assert env.counter("bot_verifications_total", result="verified") == 1
    assert env.counter("bot_gate_actions_total", action="unmute") == 1


async def test_presses_within_the_recheck_interval_ask_telegram_once_per_interval(
    env: Env,
) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    env.telegram.calls.clear()

    assert (await env.verification.joined_button(CHAT, USER, USER, prompt)).outcome is (
        ButtonOutcome.STILL_MISSING
    )
    assert env.telegram.count("get_member") == 1
    # A second "not yet" within the interval waits it out and asks again: it is never
    # the first press's answer repeated.
    start = env.clock()
    assert (await env.verification.joined_button(CHAT, USER, USER, prompt)).outcome is (
        ButtonOutcome.STILL_MISSING
    )
    assert env.clock() - start == RECHECK
    assert env.telegram.count("get_member") == 2


async def test_joined_between_presses_is_verified_after_a_wait_never_a_stale_no(
    env: Env,
) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    env.telegram.calls.clear()
    assert (await env.verification.joined_button(CHAT, USER, USER, prompt)).outcome is (
        ButtonOutcome.STILL_MISSING
    )
    join(env, USER, CH_A)
    env.clock.advance(RECHECK / 5)
    assert env.members.peek(USER, CH_A) is False  # the cached answer says "no"
    start = env.clock()

    result = await env.verification.joined_button(CHAT, USER, USER, prompt)

    assert result.outcome is ButtonOutcome.VERIFIED
    # It waited only the rest of the interval, then asked Telegram.
    assert env.clock() - start == pytest.approx(RECHECK * 4 / 5)
    assert env.telegram.count("get_member") == 2
    assert not env.telegram.is_muted(CHAT, USER)


async def test_a_cached_joined_answers_a_press_without_waiting(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    assert (await env.verification.joined_button(CHAT, USER, USER, prompt)).outcome is (
        ButtonOutcome.STILL_MISSING
    )
    # The channel's chat_member update told us (the mute stays: say the lift failed).
    await env.members.put(USER, CH_A, True)
    env.telegram.calls.clear()
    start = env.clock()
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert env.clock() == start
    assert env.telegram.count("get_member") == 0


async def test_presses_at_once_share_one_fresh_look_up(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    assert (await env.verification.joined_button(CHAT, USER, USER, prompt)).outcome is (
        ButtonOutcome.STILL_MISSING
    )
    join(env, USER, CH_A)
    env.telegram.calls.clear()

    results = await asyncio.gather(
        *(env.verification.joined_button(CHAT, USER, USER, prompt) for _ in range(3))
    )

    # All three pressed after the join and waited for one look-up made after them.
    assert env.telegram.count("get_member") == 1
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ButtonOutcome.VERIFIED) == 3
    assert not env.telegram.is_muted(CHAT, USER)


async def test_unknown_membership_keeps_the_mute(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    env.telegram.fail("get_member", TelegramUnavailable("down"))
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.UNKNOWN
    assert env.telegram.is_muted(CHAT, USER)


async def test_failed_unmute_answers_unknown_and_can_be_retried(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    join(env, USER, CH_A)
    env.telegram.fail("restrict", TelegramUnavailable("down"))
    with capture_logs() as logs:
        result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.UNKNOWN
    assert logs == [
        {"event": "unmute_failed", "log_level": "warning", "chat_id": CHAT, "error": "down"}
    ]
    assert await env.restriction(CHAT, USER) is not None  # still ours to lift
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert not env.telegram.is_muted(CHAT, USER)


async def test_button_never_lifts_a_restriction_gmbot_did_not_apply(env: Env) -> None:
    await env.protect(settings=GroupSettings(action=GateAction.WARN))  # prompted, not muted
    prompt = await muted_by_gate_or_prompted(env)
    # An admin restricted the user themselves.
    env.telegram.set_member(CHAT, USER, MemberStatus.RESTRICTED, is_member=True)
    env.telegram.member_permissions[(CHAT, USER)] = dict(MUTED)
    join(env, USER, CH_A)

    result = await env.verification.joined_button(CHAT, USER, USER, prompt)

    assert result.outcome is ButtonOutcome.VERIFIED
    assert env.telegram.count("restrict") == 0
    assert env.telegram.is_muted(CHAT, USER)
    assert prompt not in env.telegram.messages[CHAT]  # the prompt is still cleaned up
    assert AuditKind.UNMUTE not in await env.audit_kinds()


async def muted_by_gate_or_prompted(env: Env) -> int:
    assert await env.gate_message(message(env)) is Verdict.QUEUED
    prompt = await env.prompts.current(CHAT, USER)
    assert prompt is not None
    return prompt


async def test_button_in_a_group_no_longer_protected_lifts_our_mute(env: Env) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    async with env.uow() as uow:
        await uow.groups.unlink(CHAT)
        await uow.commit()
    await env.directory.invalidate(CHAT)

    result = await env.verification.joined_button(CHAT, USER, USER, prompt)

    assert result.outcome is ButtonOutcome.NOT_PROTECTED
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    assert await env.restriction(CHAT, USER) is None
    # Only the gate's check of the channel (the mute asks nothing of the group).
    assert env.telegram.count("get_member") == 1


async def test_expired_mute_is_forgotten_without_a_restrict_call(env: Env) -> None:
    await env.protect(settings=GroupSettings(mute_seconds=60))
    prompt = await muted_by_gate(env)
    join(env, USER, CH_A)
    env.clock.advance(61)
    env.telegram.calls.clear()
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert env.telegram.count("restrict") == 0
    assert await env.restriction(CHAT, USER) is None
    assert (await env.audit_kinds())[-1] is AuditKind.UNMUTE


# --------------------------------------------------------------------------- channel joins


async def test_channel_join_unmutes_only_groups_fully_satisfied_and_muted_by_gmbot(
    env: Env,
) -> None:
    third = OTHER_CHAT - 1
    env.telegram.supergroup(OTHER_CHAT, "Other")
    env.telegram.supergroup(third, "Third")
    await env.protect(CHAT, [channel_a()])
    await env.protect(OTHER_CHAT, [channel_a(), channel_b()])
    await env.protect(third, [channel_a()])
    prompts = {}
    for chat in (CHAT, OTHER_CHAT):
        env.telegram.set_member(chat, USER, MemberStatus.MEMBER)
        prompts[chat] = await muted_by_gate(env, chat)
    # In the third group an admin muted the user; GMBot holds no restriction there.
    env.telegram.set_member(third, USER, MemberStatus.RESTRICTED, is_member=True)
    env.telegram.member_permissions[(third, USER)] = dict(MUTED)
    join(env, USER, CH_A)
    env.telegram.calls.clear()

    unmuted = await env.verification.channel_joined(CH_A, USER)

    assert unmuted == [CHAT]
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    assert await env.restriction(CHAT, USER) is None
    assert env.telegram.is_muted(OTHER_CHAT, USER)  # still not in channel B
    assert await env.restriction(OTHER_CHAT, USER) is not None
    assert env.telegram.is_muted(third, USER)
    assert [c.args["chat_id"] for c in env.telegram.calls_of("restrict")] == [CHAT]
    assert env.members.peek(USER, CH_A) is True
    assert prompts[CHAT] not in env.telegram.messages[CHAT]
    assert prompts[OTHER_CHAT] in env.telegram.messages[OTHER_CHAT]
    assert [e.kind for e in await env.audit(CHAT)][-2:] == [AuditKind.VERIFY, AuditKind.UNMUTE]
    assert AuditKind.VERIFY not in [e.kind for e in await env.audit(OTHER_CHAT)]
    # The join itself is trusted: no getChatMember for channel A.
    assert CH_A not in [c.args["chat_id"] for c in env.telegram.calls_of("get_member")]


async def test_channel_join_for_an_unlinked_channel_unmutes_nothing(env: Env) -> None:
    await env.protect()
    await muted_by_gate(env)
    other_channel = LinkedChannel(-1002000000055, "Unrelated")
    assert await env.verification.channel_joined(other_channel.channel_id, USER) == []
    assert env.telegram.is_muted(CHAT, USER)


async def test_channel_join_without_mutes_does_nothing(env: Env) -> None:
    await env.protect()
    env.telegram.calls.clear()
    assert await env.verification.channel_joined(CH_A, USER) == []
    assert env.telegram.calls == []


async def test_channel_left_forgets_the_cached_answer(env: Env) -> None:
    await env.members.put(USER, CH_A, True)
    await env.verification.channel_left(CH_A, USER)
    assert env.members.peek(USER, CH_A) is None


async def test_lift_of_a_mute_gmbot_did_not_apply_is_refused(env: Env) -> None:
    env.telegram.set_member(CHAT, USER, MemberStatus.RESTRICTED, is_member=True)
    assert await env.muter.lift(CHAT, USER, "test") is False
    assert env.telegram.calls == []
    assert await env.audit_kinds() == []


async def test_channel_join_second_channel_completes_the_other_group(env: Env) -> None:
    await env.protect(CHAT, [channel_a(), channel_b()])
    await muted_by_gate(env)
    join(env, USER, CH_A)
    assert await env.verification.channel_joined(CH_A, USER) == []
    join(env, USER, CH_B)
    assert await env.verification.channel_joined(CH_B, USER) == [CHAT]
    assert not env.telegram.is_muted(CHAT, USER)


async def test_one_mute_per_member_until_lifted_then_a_new_offence_mutes_again(
    env: Env,
) -> None:
    await env.protect()
    prompt = await muted_by_gate(env)
    for _ in range(3):
        await env.gate_message(message(env))
    assert env.telegram.count("restrict") == 1
    assert [e.kind for e in await env.audit()].count(AuditKind.MUTE) == 1

    join(env, USER, CH_A)
    result = await env.verification.joined_button(CHAT, USER, USER, prompt)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert not env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("restrict") == 2  # the lift

    # They leave the channel and post again: muted again, by a new restrict.
    env.telegram.remove_member(CH_A, USER)
    await env.verification.channel_left(CH_A, USER)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert msg.message_id not in env.telegram.messages[CHAT]
    assert env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("restrict") == 3
    assert await env.restriction(CHAT, USER) is not None


async def test_lifting_every_mute_lets_a_new_offence_mute_again(env: Env) -> None:
    await env.protect()
    await muted_by_gate(env)
    await env.muter.lift_all(CHAT, "test")
    assert not env.telegram.is_muted(CHAT, USER)
    await env.gate_message(message(env))
    assert env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("restrict") == 3


async def test_unprotect_all_lifts_every_mute_gmbot_holds(env: Env) -> None:
    await env.protect()
    await muted_by_gate(env)
    await muted_by_gate(env, user_id=USER2)
    with capture_logs() as logs:
        result = await env.protection.unprotect(CHAT, Actor(1, "admin"), [])
    assert result.unmuted == 2
    lifted = {"event": "mutes_lifted", "log_level": "info", "chat_id": CHAT, "count": 2}
    assert {**lifted, "reason": "unprotected"} in logs
    assert env.counter("bot_gate_actions_total", action="unmute") == 2
    assert not env.telegram.is_muted(CHAT, USER)
    assert not env.telegram.is_muted(CHAT, USER2)
    assert await env.restriction(CHAT, USER) is None


async def test_an_unmute_telegram_could_not_take_is_carried_out_by_the_workers(
    env: Env,
) -> None:
    await env.protect()
    await muted_by_gate(env)
    join(env, USER, CH_A)
    env.telegram.fail("restrict", TelegramUnavailable("Bad Gateway", "restrictChatMember"))

    # The member joined; Telegram failed the unmute once: it is not dropped.
    assert await env.verification.channel_joined(CH_A, USER) == []
    assert env.telegram.is_muted(CHAT, USER)
    assert await env.drain() == 1
    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None
    assert AuditKind.UNMUTE in await env.audit_kinds()

    # Replayed or redelivered, the unmute is not carried out twice.
    restricts = env.telegram.count("restrict")
    await env.verification.channel_joined(CH_A, USER)
    await env.drain()
    assert env.telegram.count("restrict") == restricts
