"""The group's action carried out: delete, mute, kick, ban, warn (to its escalation),
and dry run; over the in-memory fakes, the gate's decision then the workers'."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gmbot.domain.actions import ActionKind
from gmbot.domain.models import AuditEntry, AuditKind, GateAction, GroupSettings, RaidMode
from gmbot.domain.telegram import MemberStatus, TelegramUnavailable
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import Verdict
from gmbot.services.verification import ButtonOutcome
from tests.unit.services.support import (
    CH_A,
    CHAT,
    OWNER,
    USER,
    USER2,
    Env,
    channel_a,
    channel_b,
    message,
)

RESTRICT = "can_restrict_members"


def exists(env: Env, msg: IncomingMessage) -> bool:
    return msg.message_id in env.telegram.messages[msg.chat_id]


def prompts(env: Env, user_id: int = USER) -> list[str]:
    """The prompts for `user_id` still on screen, oldest first."""
    on_screen = env.telegram.messages[CHAT]
    return [
        m.text
        for m in env.telegram.sent(CHAT)
        if f"tg://user?id={user_id}" in m.text and m.message_id in on_screen
    ]


def kinds(env: Env) -> list[ActionKind]:
    return [a.kind for a in env.outbox.recorded]


async def protect(env: Env, **settings: object) -> None:
    # Raid mode off: every gated member gets a prompt of their own.
    await env.protect(settings=GroupSettings(raid=RaidMode.OFF, **settings))  # type: ignore[arg-type]


async def details(env: Env, kind: AuditKind) -> list[str]:
    return [e.detail for e in await env.audit() if e.kind is kind]


# --------------------------------------------------------------------------- delete


async def test_delete_removes_the_message_only(env: Env) -> None:
    await protect(env, action=GateAction.DELETE)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    assert kinds(env) == [ActionKind.CHECK, ActionKind.DELETE]
    assert env.telegram.sent(CHAT) == []
    assert env.telegram.count("restrict") == env.telegram.count("ban") == 0
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER


# --------------------------------------------------------------------------- kick


async def test_kick_removes_the_member_who_may_come_back_and_prompts(env: Env) -> None:
    await protect(env, action=GateAction.KICK)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    # Banned, then the ban lifted: out of the group, free to join again.
    assert [c.method for c in env.telegram.calls if c.method in ("ban", "unban")] == [
        "ban",
        "unban",
    ]
    assert env.telegram.calls_of("unban")[0].args["only_if_banned"] is True
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT
    [prompt] = prompts(env)
    assert "removed from this group" in prompt
    assert await details(env, AuditKind.KICK) == [f"message={msg.message_id}"]
    assert env.counter("bot_gate_actions_total", action="kick") == 1
    assert env.counter("bot_outbox_actions_total", kind="kick", outcome="done") == 1

    # They came back and offend again: kicked again (once per offence).
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
    assert await env.gate_message(message(env)) is Verdict.REMOVED
    assert env.telegram.count("ban") == 2
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT
    assert len(prompts(env)) == 1  # the earlier prompt made way for the new one


async def test_kick_drops_gmbots_own_mute_record(env: Env) -> None:
    await protect(env)  # mute
    await env.gate_message(message(env))
    assert await env.restriction(CHAT, USER) is not None
    await env.group_admin.update_settings(CHAT, "action", "kick")
    assert await env.gate_message(message(env)) is Verdict.REMOVED
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT
    assert await env.restriction(CHAT, USER) is None  # the removal lifted it


# --------------------------------------------------------------------------- ban


async def test_ban_bans_for_good_and_prompts_nobody(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    assert env.telegram.status(CHAT, USER) is MemberStatus.KICKED
    assert env.telegram.count("unban") == 0
    assert env.telegram.sent(CHAT) == []
    assert ActionKind.PROMPT not in kinds(env)
    assert await details(env, AuditKind.BAN) == [f"message={msg.message_id}"]
    assert env.counter("bot_gate_actions_total", action="ban") == 1


async def test_a_member_let_back_in_who_offends_is_banned_again(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    await env.gate_message(message(env))
    assert env.telegram.status(CHAT, USER) is MemberStatus.KICKED
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)  # an admin unbanned them
    await env.gate_message(message(env))
    assert env.telegram.status(CHAT, USER) is MemberStatus.KICKED
    assert env.telegram.count("ban") == 2


async def test_a_burst_bans_once(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    first, second = message(env), message(env)
    await env.gate_message(first)  # looked up by a worker: known as not joined since
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
    env.telegram.calls.clear()
    # Two messages decided before the workers get to either: one ban.
    assert await env.gate.on_message(second) is Verdict.REMOVED
    assert await env.gate.on_message(message(env)) is Verdict.REMOVED
    await env.drain()
    assert env.telegram.count("ban") == 1
    assert env.telegram.count("delete_messages") == 1  # both in one batch


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("action", [GateAction.KICK, GateAction.BAN])
async def test_removal_without_the_right_is_reported_and_the_member_prompted(
    env: Env, action: GateAction
) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect(owners=[OWNER], settings=GroupSettings(action=action, raid=RaidMode.OFF))
    await env.start_bot(OWNER)
    msg = message(env)
    await env.gate_message(msg)
    assert not exists(env, msg)  # deleting still works
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    group = await env.group()
    assert group is not None
    assert group.missing_rights == (RESTRICT,)
    assert [n for n in env.telegram.sent(OWNER) if "restrict members" in n.text]
    # Still in the group: told why their message went.
    [prompt] = prompts(env)
    assert "Your message was removed" in prompt
    refused = await details(env, AuditKind.ACTION_REFUSED)
    assert len(refused) == 1
    assert "no_rights" in refused[0]
    assert env.counter("bot_action_refusals_total", kind=action.value, reason="no_rights") == 1
    assert AuditKind(action.value) not in await env.audit_kinds()
    assert env.outbox.entries() == []  # refused for good: not retried


async def test_removal_of_an_admin_is_refused_without_losing_rights(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    msg = message(env)
    # Made an admin after the gate decided (its decision is already recorded).
    await env.gate.on_message(msg)
    env.telegram.set_admin(CHAT, USER)
    await env.drain()
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ()
    assert env.counter("bot_action_refusals_total", kind="ban", reason="target_is_admin") == 1
    assert env.telegram.sent(CHAT) == []  # an admin is not prompted


async def test_kick_that_failed_transiently_is_retried(env: Env) -> None:
    await protect(env, action=GateAction.KICK)
    env.telegram.fail("unban", TelegramUnavailable("Bad Gateway", "unbanChatMember"))
    await env.gate_message(message(env))
    assert env.telegram.status(CHAT, USER) is MemberStatus.KICKED  # banned, not yet lifted
    assert await env.retry_due()
    assert env.telegram.status(CHAT, USER) is MemberStatus.LEFT
    assert len(await details(env, AuditKind.KICK)) == 1


async def test_removal_in_a_group_no_longer_protected_does_nothing(env: Env) -> None:
    await protect(env, action=GateAction.BAN)
    await env.gate.on_message(message(env))
    async with env.uow() as uow:  # switched off before the workers got to it
        await uow.groups.set_enabled(CHAT, False)
        await uow.commit()
    await env.directory.invalidate(CHAT)
    await env.drain()
    assert env.telegram.count("ban") == 0


# --------------------------------------------------------------------------- warn


async def test_warnings_count_then_escalate_to_mute_and_start_again(env: Env) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=3)
    first = message(env)
    assert await env.gate_message(first) is Verdict.QUEUED
    assert not exists(env, first)
    assert not env.telegram.is_muted(CHAT, USER)
    [prompt] = prompts(env)
    assert "Warning 1 of 3" in prompt
    assert "Your message was removed" in prompt
    await env.gate_message(message(env))
    [prompt] = prompts(env)  # the first one made way
    assert "Warning 2 of 3" in prompt
    assert await env.warnings.count(CHAT, USER) == 2

    await env.gate_message(message(env))  # the third: the escalation
    assert env.telegram.is_muted(CHAT, USER)
    [prompt] = prompts(env)
    assert "Warning" not in prompt
    assert "Your message was removed" not in prompt
    assert await env.warnings.count(CHAT, USER) == 0
    assert await details(env, AuditKind.WARN) == ["1/3", "2/3", "3/3"]
    assert AuditKind.MUTE in await env.audit_kinds()
    assert env.counter("bot_gate_actions_total", action="warn") == 3


async def test_a_warning_redelivered_counts_once(env: Env) -> None:
    await protect(env, action=GateAction.WARN)
    msg = message(env)
    await env.gate_message(msg)
    await env.gate_message(msg)
    assert await env.warnings.count(CHAT, USER) == 1
    assert await details(env, AuditKind.WARN) == ["1/3"]


async def test_warnings_are_per_member(env: Env) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=2)
    await env.gate_message(message(env, USER))
    await env.gate_message(message(env, USER2))
    assert not env.telegram.is_muted(CHAT, USER)
    assert not env.telegram.is_muted(CHAT, USER2)
    assert "Warning 1 of 2" in prompts(env, USER2)[0]


@pytest.mark.parametrize(
    ("escalation", "status", "prompted"),
    [(GateAction.KICK, MemberStatus.LEFT, True), (GateAction.BAN, MemberStatus.KICKED, False)],
)
async def test_last_warning_kicks_or_bans(
    env: Env, escalation: GateAction, status: MemberStatus, prompted: bool
) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=2, escalation=escalation)
    await env.gate_message(message(env))
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    await env.gate_message(message(env))
    assert env.telegram.status(CHAT, USER) is status
    assert await env.warnings.count(CHAT, USER) == 0
    on_screen = prompts(env)
    if prompted:
        [prompt] = on_screen
        assert "removed from this group" in prompt
    else:
        assert on_screen == []  # the warning's prompt went with the ban
    assert AuditKind(escalation.value) in await env.audit_kinds()


async def test_warnings_reset_when_the_member_verifies_with_the_button(env: Env) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=3)
    await env.gate_message(message(env))
    await env.gate_message(message(env))
    prompt_id = await env.prompts.current(CHAT, USER)
    assert prompt_id is not None
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    result = await env.verification.joined_button(CHAT, USER, USER, prompt_id)
    assert result.outcome is ButtonOutcome.VERIFIED
    assert await env.warnings.count(CHAT, USER) == 0
    # They left the channel again: the count starts over.
    env.telegram.remove_member(CH_A, USER)
    await env.members.drop(USER, CH_A)
    await env.gate_message(message(env))
    assert "Warning 1 of 3" in prompts(env)[-1]


async def test_warnings_reset_when_a_channel_join_unmutes(env: Env) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=2)
    await env.gate_message(message(env))
    await env.gate_message(message(env))  # escalated: muted
    assert env.telegram.is_muted(CHAT, USER)
    await env.warnings.record(CHAT, USER, 1)  # say, a warning counted since
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    assert await env.verification.channel_joined(CH_A, USER) == [CHAT]
    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.warnings.count(CHAT, USER) == 0


# --------------------------------------------------------------------------- dry run


@pytest.mark.parametrize("action", list(GateAction))
async def test_dry_run_records_and_counts_only(env: Env, action: GateAction) -> None:
    await protect(env, action=action, dry_run=True)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert await env.gate_message(message(env)) is Verdict.DRY_RUN  # known now: at once
    assert exists(env, msg)
    assert kinds(env) == [ActionKind.CHECK, ActionKind.DRY_RUN, ActionKind.DRY_RUN]
    for method in ("delete_messages", "restrict", "ban", "unban", "send_message"):
        assert env.telegram.count(method) == 0, method
    assert await env.restriction(CHAT, USER) is None
    assert await env.warnings.count(CHAT, USER) == 0
    audited = await details(env, AuditKind.DRY_RUN)
    assert audited == [f"{action.value} message={msg.message_id}", audited[1]]
    assert env.counter("bot_dry_run_total", would=action.value) == 2


async def test_dry_run_keeps_channel_posts(env: Env) -> None:
    await protect(env, dry_run=True)
    msg = message(env, None, sender_chat_id=-100999)
    assert await env.gate_message(msg) is Verdict.DRY_RUN
    assert exists(env, msg)
    assert await details(env, AuditKind.DRY_RUN) == [f"delete message={msg.message_id}"]


async def test_status_counts_the_dry_runs_of_the_last_day(env: Env) -> None:
    await protect(env, dry_run=True)
    async with env.uow() as uow:  # one from two days ago
        old = env.clock.utc() - timedelta(days=2)
        await uow.audit.add(AuditEntry(AuditKind.DRY_RUN, CHAT, USER, "mute", created_at=old))
        await uow.commit()
    await env.gate_message(message(env, USER))
    await env.gate_message(message(env, USER2))
    report = await env.group_admin.status_of(CHAT)
    assert report.dry_runs == 2


async def test_warnings_reset_when_a_warned_member_joins_the_channel(env: Env) -> None:
    await protect(env, action=GateAction.WARN, warn_limit=3)
    await env.gate_message(message(env))
    assert len(prompts(env)) == 1
    await env.gate_message(message(env, USER2))  # another member, who does not join
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    assert await env.verification.channel_joined(CH_A, USER) == []  # nobody to unmute
    assert await env.warnings.count(CHAT, USER) == 0
    assert prompts(env) == []  # verified: their prompt is gone
    assert [e.user_id for e in await env.audit() if e.kind is AuditKind.VERIFY] == [USER]
    assert await env.warnings.count(CHAT, USER2) == 1
    assert len(prompts(env, USER2)) == 1


async def test_a_join_that_does_not_satisfy_the_group_keeps_the_warnings(env: Env) -> None:
    await env.protect(
        channels=[channel_a(), channel_b()],
        settings=GroupSettings(action=GateAction.WARN, raid=RaidMode.OFF),
    )
    await env.gate_message(message(env))
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    await env.verification.channel_joined(CH_A, USER)
    assert await env.warnings.count(CHAT, USER) == 1  # still not in channel B
    assert len(prompts(env)) == 1
