"""GateService: who passes, and what happens to everyone else."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from gmbot.domain.actions import ActionKind
from gmbot.domain.models import AuditKind, GateAction, GroupSettings, RaidMode
from gmbot.domain.ports import CacheUnavailable, DueDeletion
from gmbot.domain.telegram import (
    MUTED,
    ChatType,
    MemberListInaccessible,
    MemberStatus,
    TelegramUnavailable,
)
from gmbot.services import texts
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import Verdict
from tests.fakes.telegram_gateway import SentMessage
from tests.unit.services.support import (
    ADMIN,
    CH_A,
    CHAT,
    INVITE_B,
    LINKED,
    OWNER,
    USER,
    USER2,
    Env,
    channel_a,
    channel_b,
    message,
)

OTHER_CHANNEL = -1002000000077


def exists(env: Env, msg: IncomingMessage) -> bool:
    return msg.message_id in env.telegram.messages[msg.chat_id]


def join(env: Env, user_id: int, *channels: int) -> None:
    for channel in channels:
        env.telegram.set_member(channel, user_id, MemberStatus.MEMBER)


def channel_notices(env: Env) -> list[SentMessage]:
    return [m for m in env.telegram.sent(OWNER) if "@chan_a" in m.text]


def prompts_sent(env: Env, chat_id: int = CHAT) -> list[str]:
    return [m.text for m in env.telegram.sent(chat_id) if "please" in m.text]


# --------------------------------------------------------------------------- passing


async def test_verified_member_costs_one_lookup_and_nothing_else(env: Env) -> None:
    await env.protect()
    await env.warm()
    await env.members.put(USER, CH_A, True)
    env.reset_counters()
    msg = message(env)

    assert await env.gate.on_message(msg) is Verdict.PASSED

    assert env.gate_cache.lookups == 1
    assert env.telegram.calls == []
    assert env.uow.opened == 0
    assert env.members.gets == 0
    assert exists(env, msg)


async def test_member_with_a_cold_cache_is_checked_once_then_cached(env: Env) -> None:
    await env.protect()
    join(env, USER, CH_A)
    msg = message(env)

    # The webhook only records the look-up: no getChatMember inside the request.
    assert await env.gate.on_message(msg) is Verdict.QUEUED
    assert env.telegram.count("get_member") == 0
    assert env.counter("bot_verifications_total", result="member") == 0
    [check] = env.outbox.entries()
    assert check.kind is ActionKind.CHECK

    await env.drain()
    assert env.telegram.count("get_member") == 1
    assert env.counter("bot_verifications_total", result="member") == 1
    assert exists(env, msg)
    assert env.telegram.count("delete_messages") == 0
    assert env.outbox.entries() == []

    env.reset_counters()
    assert await env.gate.on_message(message(env)) is Verdict.PASSED
    assert env.telegram.calls == []
    assert env.gate_cache.lookups == 1
    assert env.outbox.entries() == []


async def test_unprotected_group_is_ignored(env: Env) -> None:
    msg = message(env)
    assert await env.gate.on_message(msg) is Verdict.IGNORED
    assert exists(env, msg)
    assert env.telegram.calls == []  # "not protected" is learnt from the database
    env.reset_counters()
    assert await env.gate.on_message(message(env)) is Verdict.IGNORED
    assert env.uow.opened == 0  # ...and then cached


@pytest.mark.parametrize("user", [ADMIN, OWNER])
async def test_admins_pass_without_a_channel_check(env: Env, user: int) -> None:
    await env.protect()
    msg = message(env, user)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)
    assert env.telegram.count("get_member") == 0
    assert env.telegram.count("get_admins") == 1


async def test_exempt_user_passes_without_a_channel_check(env: Env) -> None:
    await env.protect(exempt=[USER])
    msg = message(env)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)
    assert env.telegram.count("get_member") == 0


async def test_bots_pass_untouched(env: Env) -> None:
    await env.protect()
    msg = message(env, USER, user_is_bot=True)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert env.gate_cache.lookups == 0
    assert env.telegram.calls == []


async def test_message_without_sender_passes(env: Env) -> None:
    await env.protect()
    assert await env.gate.on_message(message(env, None)) is Verdict.PASSED
    assert env.telegram.calls == []


async def test_anonymous_admin_posting_as_the_group_passes(env: Env) -> None:
    await env.protect()
    msg = message(env, None, sender_chat_id=CHAT)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)
    assert env.telegram.calls == []


async def test_automatic_forward_passes(env: Env) -> None:
    await env.protect(linked_chat_id=LINKED)
    msg = message(env, None, sender_chat_id=OTHER_CHANNEL, is_automatic_forward=True)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)


# --------------------------------------------------------------------------- channel posts


async def test_message_as_another_channel_is_removed(env: Env) -> None:
    await env.protect(linked_chat_id=LINKED)
    msg = message(env, None, sender_chat_id=OTHER_CHANNEL)
    assert await env.gate.on_message(msg) is Verdict.CHANNEL_POST_REMOVED
    assert exists(env, msg)  # recorded only: the workers delete it
    await env.drain()
    assert not exists(env, msg)
    assert [c.args for c in env.telegram.calls_of("delete_messages")] == [
        {"chat_id": CHAT, "message_ids": [msg.message_id]}
    ]
    assert env.telegram.count("delete_message") == 0
    assert env.telegram.count("restrict") == 0
    assert prompts_sent(env) == []


async def test_message_as_the_linked_channel_passes(env: Env) -> None:
    await env.protect(linked_chat_id=LINKED)
    msg = message(env, None, sender_chat_id=LINKED)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)


async def test_channel_posts_pass_when_settings_allow(env: Env) -> None:
    await env.protect(settings=GroupSettings(delete_channel_posts=False))
    msg = message(env, None, sender_chat_id=OTHER_CHANNEL)
    assert await env.gate.on_message(msg) is Verdict.PASSED
    assert exists(env, msg)


async def test_channel_post_in_an_unprotected_group_is_ignored(env: Env) -> None:
    msg = message(env, None, sender_chat_id=OTHER_CHANNEL)
    assert await env.gate.on_message(msg) is Verdict.IGNORED
    assert exists(env, msg)


# --------------------------------------------------------------------------- non-members


async def test_non_member_is_removed_muted_and_prompted(env: Env) -> None:
    await env.protect()
    msg = message(env, thread_id=None)

    with capture_logs() as logs:
        assert await env.gate.on_message(msg) is Verdict.QUEUED
        assert exists(env, msg)  # nothing is done inside the request
        assert [c.method for c in env.telegram.calls] == ["get_admins"]
        await env.drain()

    assert {"event": "user_muted", "log_level": "info", "chat_id": CHAT, "user_id": USER} in logs
    assert not exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)
    # Looked up in the channel (not in the group: nobody had restricted a member who
    # just posted), then deleted, muted and prompted, deletions first.
    assert [c.method for c in env.telegram.calls] == [
        "get_admins",
        "get_member",
        "delete_messages",
        "restrict",
        "send_message",
    ]
    assert env.telegram.calls_of("get_member")[0].args == {"chat_id": CH_A, "user_id": USER}
    assert env.telegram.calls_of("delete_messages")[0].args == {
        "chat_id": CHAT,
        "message_ids": [msg.message_id],
    }
    restrict = env.telegram.calls_of("restrict")[0].args
    assert restrict["permissions"] == MUTED
    assert restrict["until"] is None
    restriction = await env.restriction(CHAT, USER)
    assert restriction is not None
    assert restriction.until is None
    assert restriction.created_at == env.clock.utc()
    assert AuditKind.MUTE in await env.audit_kinds()
    assert env.counter("bot_verifications_total", result="not_member") == 1
    assert env.counter("bot_gate_actions_total", action="mute") == 1
    assert env.counter("bot_gate_actions_total", action="delete") == 1

    [prompt] = env.telegram.sent(CHAT)
    assert "@chan_a" in prompt.text
    assert 'href="tg://user?id=42"' in prompt.text
    assert "Your message was removed" not in prompt.text  # muted: the text says so
    assert prompt.keyboard == [
        [texts.Button(text="Join @chan_a", url="https://t.me/chan_a")],
        [texts.Button(text=texts.JOINED_BUTTON, callback_data=f"gmv:{USER}")],
    ]
    assert await env.prompts.current(CHAT, USER) == prompt.message_id
    ttl = GroupSettings().prompt_ttl
    assert env.prompts.scheduled() == {
        DueDeletion(CHAT, prompt.message_id, USER): env.clock() + ttl
    }
    assert env.outbox.entries() == []


async def test_cached_non_member_is_decided_in_the_request_without_telegram(env: Env) -> None:
    await env.protect()
    await env.warm()
    await env.members.put(USER, CH_A, False)
    env.reset_counters()
    msg = message(env)

    assert await env.gate.on_message(msg) is Verdict.REMOVED

    assert env.telegram.calls == []
    assert exists(env, msg)
    assert [(a.kind, a.key) for a in env.outbox.entries()] == [
        (ActionKind.DELETE, f"del:{CHAT}:{msg.message_id}"),
        (ActionKind.MUTE, f"mute:{CHAT}:{USER}"),  # which records the prompt after it
    ]
    await env.drain()
    assert not exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)
    assert len(prompts_sent(env)) == 1
    assert env.telegram.count("get_member") == 0


async def test_one_prompt_and_one_mute_per_user_not_per_message(env: Env) -> None:
    await env.protect()
    first, second = message(env), message(env)
    assert await env.gate_message(first) is Verdict.QUEUED
    # The "not joined" answer was cached: the second message is decided at once.
    assert await env.gate_message(second) is Verdict.REMOVED
    assert not exists(env, first)
    assert not exists(env, second)
    assert len(env.telegram.sent(CHAT)) == 1
    assert env.telegram.count("restrict") == 1
    channel_checks = [c for c in env.telegram.calls_of("get_member") if c.args["chat_id"] != CHAT]
    assert len(channel_checks) == 1
    assert [c for c in env.telegram.calls_of("get_member") if c.args["chat_id"] == CHAT] == []
    # Another user gets a prompt (and a mute) of their own.
    assert await env.gate_message(message(env, USER2)) is Verdict.QUEUED
    assert len(env.telegram.sent(CHAT)) == 2
    assert env.telegram.count("restrict") == 2


async def test_prompt_comes_again_once_the_slot_expired(env: Env) -> None:
    # A member GMBot muted cannot post again; one the bot may not mute can.
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect()
    await env.gate_message(message(env))
    await env.gate_message(message(env))
    assert len(env.telegram.sent(CHAT)) == 1  # one prompt per member while it lasts
    env.clock.advance(GroupSettings().prompt_ttl + 1)
    await env.gate_message(message(env))
    assert len(env.telegram.sent(CHAT)) == 2


async def test_prompt_has_a_join_button_per_missing_channel(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    join(env, USER, CH_A)
    assert await env.gate_message(message(env)) is Verdict.QUEUED
    [prompt] = env.telegram.sent(CHAT)
    assert prompt.keyboard == [
        [texts.Button(text="Join Channel B", url=INVITE_B)],
        [texts.Button(text=texts.JOINED_BUTTON, callback_data=f"gmv:{USER}")],
    ]
    assert "Channel B" in prompt.text
    assert "@chan_a" not in prompt.text

    env.telegram.remove_member(CH_A, USER)
    await env.members.drop(USER, CH_A)
    assert await env.gate_message(message(env, USER2)) is Verdict.QUEUED
    keyboard = env.telegram.sent(CHAT)[-1].keyboard
    assert keyboard is not None
    assert [row[0].url for row in keyboard] == ["https://t.me/chan_a", INVITE_B, None]


async def test_prompt_goes_to_the_forum_topic(env: Env) -> None:
    await env.protect()
    await env.gate_message(message(env, thread_id=12))
    assert env.telegram.calls_of("send_message")[0].args["thread_id"] == 12


async def test_action_delete_removes_without_muting(env: Env) -> None:
    await env.protect(settings=GroupSettings(action=GateAction.DELETE))
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    assert env.telegram.count("restrict") == 0
    assert await env.restriction(CHAT, USER) is None
    assert AuditKind.MUTE not in await env.audit_kinds()
    assert [a.kind for a in env.outbox.recorded] == [ActionKind.CHECK, ActionKind.DELETE]
    assert env.telegram.sent(CHAT) == []  # delete only: nobody is prompted


@pytest.mark.parametrize(("setting", "expected"), [(120, 120), (10, 30)])
async def test_mute_seconds_sets_until(env: Env, setting: int, expected: int) -> None:
    await env.protect(settings=GroupSettings(mute_seconds=setting))
    await env.gate_message(message(env))
    until = env.clock.utc() + timedelta(seconds=expected)
    assert env.telegram.calls_of("restrict")[0].args["until"] == until
    restriction = await env.restriction(CHAT, USER)
    assert restriction is not None
    assert restriction.until == until


async def test_failed_prompt_frees_the_slot_and_is_retried(env: Env) -> None:
    await env.protect()
    env.telegram.fail("send_message", TelegramUnavailable("down"))
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)  # the deletion and the mute do not wait for the prompt
    assert env.telegram.is_muted(CHAT, USER)
    assert env.telegram.sent(CHAT) == []
    assert env.prompts.scheduled() == {}
    assert await env.prompts.current(CHAT, USER) is None
    assert [a.kind for a in env.outbox.entries()] == [ActionKind.PROMPT]

    # The prompt comes back once its claim lapses, and is sent then, once.
    await env.retry_due()
    assert len(env.telegram.sent(CHAT)) == 1
    assert env.outbox.entries() == []
    await env.gate_message(message(env))
    assert len(env.telegram.sent(CHAT)) == 1
    assert env.telegram.count("restrict") == 1


# --------------------------------------------------------------------------- Telegram down


async def test_fail_open_lets_the_message_through_and_tells_the_group(env: Env) -> None:
    await env.protect()
    env.telegram.fail("get_member", TelegramUnavailable("timeout"))
    msg = message(env)

    with capture_logs() as logs:
        assert await env.gate_message(msg) is Verdict.QUEUED

    assert [e for e in logs if e["log_level"] == "warning"] == [
        {
            "event": "membership_unknown",
            "log_level": "warning",
            "channel_id": CH_A,
            "error": "timeout",
        },
        {"event": "gate_fail_open", "log_level": "warning", "chat_id": CHAT, "user_id": USER},
    ]
    assert exists(env, msg)
    assert env.telegram.count("restrict") == 0
    assert env.telegram.count("delete_messages") == 0
    assert env.counter("bot_fail_open_total") == 1
    assert env.counter("bot_verifications_total", result="unknown") == 1
    assert env.outbox.entries() == []  # the check is done: failing open is a decision
    # Nobody reachable in private: the notice falls back to the group, once an hour.
    [notice] = env.telegram.sent(CHAT)
    assert "could not check channel membership" in notice.text
    env.telegram.fail("get_member", TelegramUnavailable("timeout"))
    assert await env.gate_message(message(env, USER2)) is Verdict.QUEUED
    assert env.counter("bot_fail_open_total") == 2
    assert len(env.telegram.sent(CHAT)) == 1
    # The unknown answer was not cached: the next message asks again.
    again = message(env)
    assert await env.gate_message(again) is Verdict.QUEUED
    assert not exists(env, again)
    assert env.counter("bot_verifications_total", result="not_member") == 1


async def test_fail_closed_removes_and_prompts(closed_env: Env) -> None:
    env = closed_env
    await env.protect()
    env.telegram.fail("get_member", TelegramUnavailable("timeout"))
    msg = message(env)

    assert await env.gate_message(msg) is Verdict.QUEUED

    assert not exists(env, msg)
    assert env.counter("bot_fail_open_total") == 0
    assert env.counter("bot_verifications_total", result="unknown") == 1
    assert len(prompts_sent(env)) == 1


# --------------------------------------------------------------------------- lost rights


async def test_inaccessible_channel_is_marked_and_owners_told_once_an_hour(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    env.telegram.remove_member(CH_A, env.telegram.bot.id)  # the bot lost channel admin
    msg = message(env)

    with capture_logs() as logs:
        assert await env.gate_message(msg) is Verdict.QUEUED

    expected = {"event": "channel_membership_inaccessible", "log_level": "warning"}
    assert {**expected, "channel_id": CH_A} in logs
    assert exists(env, msg)  # failed open
    assert env.counter("bot_fail_open_total") == 1

    group = await env.group()
    assert group is not None
    assert group.channels[0].bot_is_admin is False
    audit = await env.audit()
    assert [(e.kind, e.detail) for e in audit if e.kind is AuditKind.RIGHTS_LOST] == [
        (AuditKind.RIGHTS_LOST, f"channel={CH_A}")
    ]
    [notice] = channel_notices(env)
    assert "lost rights" in notice.text
    # The fail-open notice went to the owner too, not to the group.
    assert [m.text for m in env.telegram.sent(OWNER)] == [
        notice.text,
        texts.fail_open_notice("Group"),
    ]
    assert env.telegram.sent(CHAT) == []

    # The channel is already marked: no second audit entry or notice.
    await env.gate_message(message(env, USER2))
    assert env.counter("bot_fail_open_total") == 2
    assert len(channel_notices(env)) == 1
    assert len([e for e in await env.audit() if e.kind is AuditKind.RIGHTS_LOST]) == 1

    # Marked fine again (e.g. by /status) and lost again within the hour: no notice.
    async with env.uow() as uow:
        await uow.groups.set_channel_admin(CH_A, True)
        await uow.commit()
    await env.directory.invalidate(CHAT)
    await env.gate_message(message(env, USER2))
    assert len(channel_notices(env)) == 1
    # ...but a notice again once the hour is over.
    async with env.uow() as uow:
        await uow.groups.set_channel_admin(CH_A, True)
        await uow.commit()
    await env.directory.invalidate(CHAT)
    env.clock.advance(3601)
    await env.gate_message(message(env, USER2))
    assert len(channel_notices(env)) == 2


async def test_missing_restrict_right_is_recorded_and_owners_told(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect(owners=[OWNER], settings=GroupSettings(raid=RaidMode.OFF))
    await env.start_bot(OWNER)
    msg = message(env)

    assert await env.gate_message(msg) is Verdict.QUEUED

    assert not exists(env, msg)  # deleting still works
    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_restrict_members",)
    assert AuditKind.RIGHTS_LOST in await env.audit_kinds()
    assert AuditKind.MUTE not in await env.audit_kinds()
    [notice] = env.telegram.sent(OWNER)
    assert "restrict members" in notice.text
    assert env.outbox.entries() == []  # a refused mute is not retried
    # The next prompt warns the admins.
    await env.gate_message(message(env, USER2))
    assert "I lost rights I need here" in prompts_sent(env)[1]
    assert len(env.telegram.sent(OWNER)) == 1  # once an hour
    assert len([e for e in await env.audit() if e.kind is AuditKind.RIGHTS_LOST]) == 1


async def test_prompt_does_not_claim_a_mute_that_was_refused(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect(settings=GroupSettings(raid=RaidMode.OFF))
    await env.gate_message(message(env))
    # The right is now recorded as lost: the next member's prompt is decided knowing it.
    await env.gate_message(message(env, USER2))
    assert not env.telegram.is_muted(CHAT, USER2)
    first, second = prompts_sent(env)
    assert "Your message was removed" in second
    assert "Your message was removed" in first


async def test_refused_mute_does_not_stop_a_later_mute(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect()
    await env.gate_message(message(env))
    assert not env.telegram.is_muted(CHAT, USER)
    # The right is given back (and /status would clear the record).
    env.telegram.supergroup(CHAT)
    async with env.uow() as uow:
        await uow.groups.set_missing_rights(CHAT, [])
        await uow.commit()
    await env.directory.invalidate(CHAT)
    await env.gate_message(message(env))
    assert env.telegram.is_muted(CHAT, USER)


async def test_failed_delete_is_retried_and_the_user_still_muted(env: Env) -> None:
    await env.protect()
    env.telegram.fail("delete_messages", TelegramUnavailable("down"))
    msg = message(env)
    with capture_logs() as logs:
        assert await env.gate_message(msg) is Verdict.QUEUED
    expected = {
        "event": "outbox_action_retry",
        "log_level": "warning",
        "kind": ActionKind.DELETE,
        "chat_id": CHAT,
        "error": "down",
        "attempts": 1,
    }
    assert any(expected.items() <= e.items() for e in logs)
    assert exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)
    assert env.counter("bot_gate_actions_total", action="delete") == 0
    # Telegram is back: the deletion is carried out on its next delivery.
    await env.retry_due()
    assert not exists(env, msg)
    assert env.counter("bot_gate_actions_total", action="delete") == 1
    assert env.telegram.count("delete_messages") == 2
    assert env.telegram.count("restrict") == 1


async def test_missing_delete_right_is_recorded(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_restrict_members"}))
    await env.protect()
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_delete_messages",)
    assert env.outbox.entries() == []  # refused for good: not retried


# --------------------------------------------------------------------------- no cache


@pytest.mark.parametrize("user", [USER, ADMIN, USER2])
async def test_cache_down_is_not_decided_inline(env: Env, user: int) -> None:
    # Stranger, admin or exempt alike: the failure propagates (the update is answered
    # 503 and delivered again), and nothing is done or decided meanwhile.
    await env.protect(exempt=[USER2])
    env.gate_cache.unavailable = True
    env.telegram.calls.clear()
    env.reset_counters()
    msg = message(env, user)
    with pytest.raises(CacheUnavailable):
        await env.gate.on_message(msg)
    assert exists(env, msg)
    assert env.telegram.calls == []
    assert env.uow.opened == 0
    assert env.outbox.entries() == []
    assert await env.restriction(CHAT, user) is None


async def test_outbox_down_is_not_decided_inline(env: Env) -> None:
    await env.protect(linked_chat_id=LINKED)
    env.telegram.calls.clear()
    env.outbox.available = False
    for msg in (message(env), message(env, None, sender_chat_id=OTHER_CHANNEL)):
        with pytest.raises(CacheUnavailable):
            await env.gate.on_message(msg)
        assert exists(env, msg)
    assert env.telegram.count("delete_message") == 0
    assert env.telegram.count("restrict") == 0
    env.outbox.available = True
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED  # back: decided as usual
    assert not exists(env, msg)


# --------------------------------------------------------------------------- admin list


async def test_admin_list_is_loaded_once_and_reused(env: Env) -> None:
    await env.protect()
    join(env, USER, CH_A)
    await env.gate.on_message(message(env, ADMIN))
    await env.gate.on_message(message(env, USER))
    await env.gate.on_message(message(env, ADMIN))
    assert env.telegram.count("get_admins") == 1


async def test_admin_passes_when_the_admin_list_is_unavailable(env: Env) -> None:
    await env.protect()
    # Unavailable for the webhook and again for the worker's check.
    env.telegram.fail("get_admins", TelegramUnavailable("down"), times=2)
    msg = message(env, ADMIN)
    with capture_logs() as logs:
        assert await env.gate.on_message(msg) is Verdict.QUEUED
    expected = {"event": "admin_list_unavailable", "log_level": "warning", "chat_id": CHAT}
    assert {**expected, "error": "down"} in logs
    assert env.telegram.count("get_member") == 0

    await env.drain()
    assert exists(env, msg)
    # The worker asked the group about this one user, and no channel.
    assert [c.args for c in env.telegram.calls_of("get_member")] == [
        {"chat_id": CHAT, "user_id": ADMIN}
    ]
    assert env.telegram.count("delete_messages") == 0
    assert env.telegram.count("restrict") == 0


async def test_admin_list_loaded_by_the_worker_lets_the_admin_pass(env: Env) -> None:
    await env.protect()
    env.telegram.fail("get_admins", TelegramUnavailable("down"))
    msg = message(env, ADMIN)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert exists(env, msg)
    assert env.telegram.count("get_admins") == 2
    assert env.telegram.count("get_member") == 0


async def test_exempt_user_passes_when_the_admin_list_is_unavailable(env: Env) -> None:
    await env.protect(exempt=[USER])
    env.telegram.fail("get_admins", TelegramUnavailable("down"), times=2)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert exists(env, msg)
    assert not env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("get_member") == 0  # exempt: known from the database


async def test_member_is_gated_when_the_admin_list_is_unavailable(env: Env) -> None:
    await env.protect()
    env.telegram.fail("get_admins", TelegramUnavailable("down"), times=2)
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)
    assert [c.args["chat_id"] for c in env.telegram.calls_of("get_member")] == [CHAT, CH_A]


async def test_disabled_group_is_ignored(env: Env) -> None:
    await env.protect()
    async with env.uow() as uow:
        await uow.groups.set_enabled(CHAT, False)
        await uow.commit()
    msg = message(env)
    assert await env.gate.on_message(msg) is Verdict.IGNORED
    assert exists(env, msg)


async def test_gate_decides_on_the_stored_group_not_the_message_chat_type(env: Env) -> None:
    # The chat type on the message is not what the gate decides on.
    await env.protect()
    msg = replace(message(env), chat_type=ChatType.GROUP)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)


async def test_inaccessible_during_check_counts_as_unknown(closed_env: Env) -> None:
    env = closed_env
    await env.protect()
    env.telegram.fail("get_member", MemberListInaccessible("member list is inaccessible"))
    msg = message(env)
    assert await env.gate_message(msg) is Verdict.QUEUED
    assert not exists(env, msg)
    group = await env.group()
    assert group is not None
    assert group.channels[0].bot_is_admin is False


async def test_a_poison_update_is_handed_to_the_workers(env: Env) -> None:
    await env.protect()
    msg = message(env)
    await env.gate.defer(msg)
    assert env.telegram.calls == []
    [check] = env.outbox.entries()
    assert check.kind is ActionKind.CHECK
    await env.drain()
    assert not exists(env, msg)
    assert env.telegram.is_muted(CHAT, USER)


async def test_a_deferred_message_of_a_bot_or_nobody_records_nothing(env: Env) -> None:
    await env.protect()
    await env.gate.defer(message(env, USER, user_is_bot=True))
    await env.gate.defer(message(env, None))
    assert env.outbox.entries() == []


async def test_a_member_verified_before_the_check_runs_passes(env: Env) -> None:
    await env.protect()
    msg = message(env)
    assert await env.gate.on_message(msg) is Verdict.QUEUED
    # They joined (and the join was seen) before a worker took the check.
    join(env, USER, CH_A)
    await env.verification.channel_joined(CH_A, USER)
    await env.drain()
    assert exists(env, msg)
    assert env.telegram.count("get_member") == 0  # the worker read the cache again
