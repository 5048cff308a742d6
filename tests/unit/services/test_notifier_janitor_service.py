"""AdminNotifier (owners' notices) and PromptJanitor (expired prompts)."""

from __future__ import annotations

from structlog.testing import capture_logs

from gmbot.domain.ports import DueDeletion
from gmbot.domain.telegram import BotBlocked, RetryLater, TelegramUnavailable
from gmbot.services.gate import Verdict
from tests.unit.services.support import ADMIN, CHAT, OWNER, USER, USER2, Env, message

HOUR = 3600.0


async def notify(env: Env, topic: str = "t", *, fallback: bool = False) -> int:
    return await env.notifier.notify(
        CHAT, topic, f"notice {topic}", period=HOUR, fallback_to_group=fallback
    )


# --------------------------------------------------------------------------- notifier


async def test_owners_who_started_the_bot_get_the_notice(env: Env) -> None:
    await env.protect(owners=[OWNER, ADMIN, USER])
    await env.start_bot(OWNER)
    await env.start_bot(USER)
    with capture_logs() as logs:
        assert await notify(env) == 2
    notified = {"event": "admins_notified", "log_level": "info", "chat_id": CHAT}
    assert logs == [{**notified, "topic": "t", "owners": 2}]
    assert sorted(m.chat_id for m in env.telegram.sent()) == sorted([USER, OWNER])
    assert {m.text for m in env.telegram.sent()} == {"notice t"}


async def test_at_most_once_per_period_per_topic(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    assert await notify(env, "a") == 1
    assert await notify(env, "a") == 0
    assert await notify(env, "b") == 1  # another topic
    env.clock.advance(HOUR - 1)
    assert await notify(env, "a") == 0
    env.clock.advance(2)
    assert await notify(env, "a") == 1
    assert [m.text for m in env.telegram.sent(OWNER)] == ["notice a", "notice b", "notice a"]


async def test_topics_are_per_group(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    assert await notify(env, "a") == 1
    assert await env.notifier.notify(CHAT - 1, "a", "x", period=HOUR, fallback_to_group=False) == 0
    assert env.throttle.acquired == [f"notify:{CHAT}:a", f"notify:{CHAT - 1}:a"]


async def test_blocked_owner_is_marked_and_skipped_next_time(env: Env) -> None:
    await env.protect(owners=[OWNER, ADMIN])
    await env.start_bot(OWNER)
    await env.start_bot(ADMIN)
    env.telegram.started.discard(ADMIN)  # ADMIN blocked the bot since

    assert await notify(env, "a") == 1
    async with env.uow() as uow:
        assert await uow.users.reachable([OWNER, ADMIN]) == [OWNER]
    env.telegram.calls.clear()
    assert await notify(env, "b") == 1
    assert [c.args["chat_id"] for c in env.telegram.calls_of("send_message")] == [OWNER]


async def test_other_send_errors_do_not_mark_blocked(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    env.telegram.fail("send_message", TelegramUnavailable("down"))
    with capture_logs() as logs:
        assert await notify(env, "a") == 0
    failed = {"event": "owner_notify_failed", "log_level": "warning", "owner_id": OWNER}
    assert logs[0] == {**failed, "error": "down"}
    async with env.uow() as uow:
        assert await uow.users.reachable([OWNER]) == [OWNER]


async def test_fallback_to_the_group_only_when_asked(env: Env) -> None:
    await env.protect(owners=[OWNER])  # never started the bot
    assert await notify(env, "quiet") == 0
    assert env.telegram.sent() == []
    assert await notify(env, "loud", fallback=True) == 0
    [posted] = env.telegram.sent()
    assert (posted.chat_id, posted.text) == (CHAT, "notice loud")


async def test_no_fallback_when_an_owner_got_it(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    assert await notify(env, "loud", fallback=True) == 1
    assert env.telegram.sent(CHAT) == []


async def test_fallback_when_every_owner_blocked_the_bot(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    env.telegram.fail("send_message", BotBlocked("blocked"), chat_id=OWNER)
    assert await notify(env, "loud", fallback=True) == 0
    assert [m.chat_id for m in env.telegram.sent()] == [CHAT]


async def test_fallback_failure_is_swallowed(env: Env) -> None:
    await env.protect()
    env.telegram.fail("send_message", TelegramUnavailable("down"), chat_id=CHAT)
    assert await notify(env, "loud", fallback=True) == 0


# --------------------------------------------------------------------------- janitor


async def test_due_prompt_is_deleted_once_and_its_slot_cleared(env: Env) -> None:
    await env.protect()
    assert await env.gate_message(message(env)) is Verdict.QUEUED
    prompt = await env.prompts.current(CHAT, USER)
    assert prompt is not None

    env.clock.advance(59)
    assert await env.janitor.sweep() == 0
    assert prompt in env.telegram.messages[CHAT]

    env.clock.advance(1)
    env.telegram.calls.clear()
    assert await env.janitor.sweep() == 1
    assert prompt not in env.telegram.messages[CHAT]
    assert await env.prompts.current(CHAT, USER) is None
    assert await env.janitor.sweep() == 0
    assert env.telegram.count("delete_message") == 1
    # The user may be prompted again.
    assert await env.prompts.claim(CHAT, USER, 60)


async def test_slot_pointing_at_a_newer_prompt_is_kept(env: Env) -> None:
    await env.prompts.attach(CHAT, USER, 222, 600)
    await env.prompts.schedule_deletion(DueDeletion(CHAT, 111, USER), env.clock())
    assert await env.janitor.sweep() == 1
    assert await env.prompts.current(CHAT, USER) == 222
    assert env.telegram.calls_of("delete_message")[0].args == {"chat_id": CHAT, "message_id": 111}


async def test_item_without_user_only_deletes(env: Env) -> None:
    await env.prompts.attach(CHAT, USER, 111, 600)
    await env.prompts.schedule_deletion(DueDeletion(CHAT, 111, None), env.clock())
    assert await env.janitor.sweep() == 1
    assert await env.prompts.current(CHAT, USER) == 111


async def test_delete_errors_do_not_stop_the_sweep_and_transient_ones_come_back(env: Env) -> None:
    now = env.clock()
    ids = [env.telegram.post(CHAT, env.telegram.bot.id) for _ in range(3)]
    for i, message_id in enumerate(ids):
        await env.prompts.schedule_deletion(DueDeletion(CHAT, message_id, USER2), now - 3 + i)
    env.telegram.fail("delete_message", RetryLater(30), message_id=ids[0])
    env.telegram.fail("delete_message", TelegramUnavailable("down"), message_id=ids[1])
    assert await env.janitor.sweep() == 3
    assert list(env.telegram.messages[CHAT]) == ids[:2]
    assert await env.janitor.sweep() == 0  # the failed ones wait before another try
    # Telegram is back: after its retry_after (or the janitor's pause) each is deleted once.
    env.clock.advance(5)
    assert await env.janitor.sweep() == 1
    assert list(env.telegram.messages[CHAT]) == ids[:1]
    env.clock.advance(25)
    assert await env.janitor.sweep() == 1
    assert list(env.telegram.messages[CHAT]) == []
    assert await env.janitor.sweep() == 0
    assert env.telegram.count("delete_message") == 5


async def test_already_deleted_prompt_is_fine(env: Env) -> None:
    await env.prompts.schedule_deletion(DueDeletion(CHAT, 999, USER), env.clock())
    assert await env.janitor.sweep() == 1


async def test_prompt_deleted_by_verification_leaves_the_janitor_nothing(env: Env) -> None:
    await env.protect()
    await env.gate_message(message(env))
    prompt = await env.prompts.current(CHAT, USER)
    assert prompt is not None
    await env.muter.clear_prompt(CHAT, USER)
    assert prompt not in env.telegram.messages[CHAT]
    env.clock.advance(60)
    env.telegram.calls.clear()
    assert await env.janitor.sweep() == 1
    assert env.telegram.calls_of("delete_message")[0].args["message_id"] == prompt
