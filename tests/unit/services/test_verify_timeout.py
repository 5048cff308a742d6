"""Verification timeouts over the in-memory fakes: the gate records one removal timer
per gated episode, the workers carry it out once due, re-checking everything first."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gmbot.domain.actions import Action, ActionKind
from gmbot.domain.models import AuditKind, GateAction, GroupSettings, RaidMode
from gmbot.domain.telegram import MemberStatus, TelegramUnavailable
from gmbot.services import gate_plan as plan
from gmbot.services.events import IncomingMessage
from gmbot.services.verify_timeout import timeout_actions
from tests.unit.services.support import CH_A, CH_B, CHAT, USER, USER2, Env, channel_a, channel_b
from tests.unit.services.support import message as post

TIMEOUT = 600


async def protect(env: Env, **settings: object) -> None:
    values: dict[str, object] = {"raid": RaidMode.OFF, "verify_timeout": TIMEOUT, **settings}
    await env.protect(settings=GroupSettings(**values))  # type: ignore[arg-type]


def timers(env: Env) -> list[Action]:
    return [a for a in env.outbox.recorded if a.kind is ActionKind.EXPEL]


def removed(env: Env, user_id: int = USER) -> bool:
    return any(c.args.get("user_id") == user_id for c in env.telegram.calls_of("ban"))


def outcome(env: Env, name: str) -> float:
    return env.counter("bot_verify_timeouts_total", outcome=name)


def on_screen_prompts(env: Env, user_id: int = USER) -> list[int]:
    shown = env.telegram.messages[CHAT]
    return [
        m.message_id
        for m in env.telegram.sent(CHAT)
        if f"tg://user?id={user_id}" in m.text and m.message_id in shown
    ]


async def gated(env: Env, user_id: int = USER) -> IncomingMessage:
    msg = post(env, user_id)
    await env.gate_message(msg)
    assert msg.message_id not in env.telegram.messages[CHAT]  # gated: removed
    return msg


async def fire(env: Env) -> None:
    """Let the timeout pass; the workers carry out what is due."""
    env.clock.advance(TIMEOUT + 1)
    await env.drain()


# --------------------------------------------------------------------------- the plan


async def test_the_timer_is_planned_only_with_a_timeout_and_not_for_bans_or_dry_runs(
    env: Env,
) -> None:
    group = await env.protect(settings=GroupSettings(verify_timeout=TIMEOUT))
    msg = post(env)
    [timer] = timeout_actions(group, msg)
    assert timer.kind is ActionKind.EXPEL
    assert timer.key == plan.expel_key(CHAT, USER) == f"expel:{CHAT}:{USER}"
    assert timer.delay == TIMEOUT
    assert timer.fields["user"] == str(USER)
    assert timer.fields["timeout"] == str(TIMEOUT)
    for settings in (
        GroupSettings(verify_timeout=None),
        GroupSettings(verify_timeout=TIMEOUT, action=GateAction.BAN),
        GroupSettings(verify_timeout=TIMEOUT, dry_run=True),
    ):
        assert timeout_actions(replace(group, settings=settings), msg) == []
    kick = GroupSettings(verify_timeout=TIMEOUT, action=GateAction.KICK)
    assert len(timeout_actions(replace(group, settings=kick), msg)) == 1


# --------------------------------------------------------------------------- removal


async def test_a_member_not_verified_in_time_is_kicked_once(env: Env) -> None:
    await protect(env, prompt_ttl=2 * TIMEOUT)  # the prompt is still up when the timer fires
    await gated(env)
    assert len(on_screen_prompts(env)) == 1
    assert [t.delay for t in timers(env)] == [TIMEOUT]
    env.clock.advance(TIMEOUT - 5)
    await env.drain()
    assert not removed(env)
    assert env.telegram.status(CHAT, USER) is MemberStatus.RESTRICTED  # muted meanwhile
    env.clock.advance(6)
    await env.drain()
    # Kicked: banned, then the ban lifted at once (they may come back once subscribed).
    assert [c.method for c in env.telegram.calls if c.method in ("ban", "unban")] == [
        "ban",
        "unban",
    ]
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT
    [entry] = [e for e in await env.audit() if e.kind is AuditKind.TIMEOUT_REMOVED]
    assert (entry.user_id, entry.detail) == (USER, "not verified within 10m")
    assert outcome(env, "removed") == 1
    assert on_screen_prompts(env) == []  # the prompt went with them
    assert await env.restriction(CHAT, USER) is None  # GMBot's mute record is dropped
    # Nothing more is due: the removal happens once.
    env.clock.advance(10 * TIMEOUT)
    await env.drain()
    assert env.telegram.count("ban") == 1


async def test_one_timer_per_episode_however_many_offences(env: Env) -> None:
    await protect(env, action=GateAction.DELETE)
    for _ in range(5):
        await gated(env)
    assert len(timers(env)) == 1
    await fire(env)
    assert env.telegram.count("ban") == 1
    # After the timer fired, a later offence (they came back unverified) starts a new one.
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
    await gated(env)
    assert len(timers(env)) == 2
    await fire(env)
    assert env.telegram.count("ban") == 2
    assert outcome(env, "removed") == 2


async def test_each_member_has_a_timer_of_their_own(env: Env) -> None:
    await protect(env)
    await gated(env, USER)
    env.clock.advance(TIMEOUT / 2)
    await gated(env, USER2)
    env.clock.advance(TIMEOUT / 2 + 1)
    await env.drain()
    assert removed(env, USER)
    assert not removed(env, USER2)
    env.clock.advance(TIMEOUT / 2)
    await env.drain()
    assert removed(env, USER2)


async def test_kick_action_groups_get_the_timer_too(env: Env) -> None:
    await protect(env, action=GateAction.KICK)
    await gated(env)
    assert len(timers(env)) == 1


async def test_no_timer_without_a_timeout(env: Env) -> None:
    await protect(env, verify_timeout=None)
    await gated(env)
    assert timers(env) == []


async def test_no_timer_in_a_dry_run(env: Env) -> None:
    await protect(env, dry_run=True)
    msg = post(env)
    await env.gate_message(msg)
    assert timers(env) == []


async def test_no_timer_for_a_ban(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    await gated(env)
    assert timers(env) == []


# --------------------------------------------------------------------------- re-checks


async def test_a_member_who_verified_meanwhile_stays(env: Env) -> None:
    await protect(env)
    await gated(env)
    # They joined; the cache still says "not joined" (no update reached the bot).
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    await fire(env)
    assert not removed(env)
    assert outcome(env, "verified") == 1
    assert AuditKind.TIMEOUT_REMOVED not in await env.audit_kinds()


async def test_the_cache_is_not_trusted_telegram_is_asked(env: Env) -> None:
    await protect(env)
    await gated(env)
    await env.members.put(USER, CH_A, True)  # a stale "joined"
    await fire(env)
    assert removed(env)
    assert any(
        c.args == {"chat_id": CH_A, "user_id": USER} for c in env.telegram.calls_of("get_member")
    )


async def test_any_mode_one_channel_is_enough(env: Env) -> None:
    from gmbot.domain.models import ChannelMode

    await env.protect(
        channels=[channel_a(), channel_b()],
        settings=GroupSettings(raid=RaidMode.OFF, verify_timeout=TIMEOUT, mode=ChannelMode.ANY),
    )
    await gated(env)
    env.telegram.set_member(CH_B, USER, MemberStatus.MEMBER)
    await fire(env)
    assert not removed(env)
    assert outcome(env, "verified") == 1


async def test_an_admin_is_not_removed(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.set_admin(CHAT, USER)  # promoted meanwhile
    await fire(env)
    assert not removed(env)
    assert outcome(env, "admin") == 1


async def test_an_exempt_member_is_not_removed(env: Env) -> None:
    await protect(env)
    await gated(env)
    async with env.uow() as uow:
        await uow.exempt.add(CHAT, USER, None, env.clock.utc())
        await uow.commit()
    await fire(env)
    assert not removed(env)
    assert outcome(env, "exempt") == 1


@pytest.mark.parametrize("status", [MemberStatus.LEFT, MemberStatus.KICKED])
async def test_a_member_no_longer_in_the_group_is_left_alone(
    env: Env, status: MemberStatus
) -> None:
    await protect(env)
    await gated(env)
    env.telegram.set_member(CHAT, USER, status)  # left, or an admin banned them
    await fire(env)
    assert env.telegram.count("ban") == env.telegram.count("unban") == 0
    assert env.telegram.status(CHAT, USER) is status  # an admin's ban is never lifted
    assert outcome(env, "gone") == 1


async def test_timeout_switched_off_meanwhile_removes_nobody(env: Env) -> None:
    await protect(env)
    await gated(env)
    group = await env.group()
    assert group is not None
    async with env.uow() as uow:
        await uow.groups.update_settings(CHAT, replace(group.settings, verify_timeout=None))
        await uow.commit()
    await env.directory.invalidate(CHAT)
    await fire(env)
    assert not removed(env)
    assert outcome(env, "off") == 1


async def test_a_channel_the_bot_cannot_see_removes_nobody(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.set_member(CH_A, env.telegram.bot.id, MemberStatus.LEFT)  # no longer admin
    await fire(env)
    assert not removed(env)
    assert outcome(env, "unknown") == 1


# --------------------------------------------------------------------------- failures


async def test_telegram_away_at_due_time_retries_the_timer(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.fail("get_member", TelegramUnavailable("Bad Gateway", "getChatMember"))
    await fire(env)
    assert not removed(env)
    await env.retry_due()
    assert removed(env)
    assert outcome(env, "removed") == 1


async def test_a_membership_telegram_cannot_tell_now_is_asked_again(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.fail(
        "get_member", TelegramUnavailable("Bad Gateway", "getChatMember"), chat_id=CH_A
    )
    await fire(env)
    assert not removed(env)
    await env.retry_due()
    assert removed(env)


async def test_a_ban_whose_lifting_failed_is_lifted_on_the_retry(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.fail("unban", TelegramUnavailable("Bad Gateway", "unbanChatMember"))
    await fire(env)
    assert env.telegram.status(CHAT, USER) is MemberStatus.KICKED  # for now
    assert AuditKind.TIMEOUT_REMOVED not in await env.audit_kinds()
    await env.retry_due()
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT  # never left banned
    assert env.telegram.count("ban") == 1
    assert (await env.audit_kinds()).count(AuditKind.TIMEOUT_REMOVED) == 1
    assert outcome(env, "removed") == 1


async def test_a_refused_removal_is_audited_and_ends_the_timer(env: Env) -> None:
    await protect(env)
    await gated(env)
    env.telegram.set_admin(
        CHAT, env.telegram.bot.id, frozenset({"can_delete_messages"}), is_bot=True
    )
    await fire(env)
    assert env.telegram.status(CHAT, USER) is not MemberStatus.LEFT
    assert AuditKind.ACTION_REFUSED in await env.audit_kinds()
    assert AuditKind.TIMEOUT_REMOVED not in await env.audit_kinds()
    # The timer is over: a later offence may start a new one.
    await gated(env)
    assert len(timers(env)) == 2


async def test_the_same_update_delivered_twice_records_one_timer(env: Env) -> None:
    await protect(env)
    msg = post(env)
    await env.gate.on_message(msg)
    await env.gate.on_message(msg)
    await env.drain()
    await env.gate.on_message(msg)
    await env.drain()
    assert len(timers(env)) == 1
