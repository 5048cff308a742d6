"""ActionRunner (through the outbox workers): what the gate recorded is carried out
in batches, at its priority, and settled only once Telegram did it or refused it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from structlog.testing import capture_logs

from gmbot.domain.actions import ActionKind, OutboxEntry
from gmbot.domain.fencing import Fence
from gmbot.domain.models import AuditKind
from gmbot.domain.telegram import BadRequest, MemberStatus, RetryLater, TelegramUnavailable
from gmbot.services import gate_plan as plan
from gmbot.services.action_runner import BATCH, RetryPolicy
from tests.unit.services.support import (
    CH_A,
    CHAT,
    OTHER_CHAT,
    OWNER,
    USER,
    USER2,
    Env,
    message,
)


def posted(env: Env, count: int, chat_id: int = CHAT, user_id: int = USER) -> list[int]:
    return [message(env, user_id, chat_id).message_id for _ in range(count)]


def outbox_count(env: Env, kind: str, outcome: str) -> float:
    return env.counter("bot_outbox_actions_total", kind=kind, outcome=outcome)


async def record_deletions(env: Env, chat_id: int, ids: list[int]) -> None:
    await env.outbox.record([plan.delete(chat_id, i) for i in ids])


# --------------------------------------------------------------------------- batching


async def test_deletions_of_one_chat_go_out_as_one_call_with_sorted_ids(env: Env) -> None:
    await env.protect()
    ids = posted(env, 5)
    await record_deletions(env, CHAT, [ids[3], ids[0], ids[4], ids[1], ids[2]])

    assert await env.drain() == 5

    assert [c.args for c in env.telegram.calls_of("delete_messages")] == [
        {"chat_id": CHAT, "message_ids": ids}
    ]
    assert env.telegram.count("delete_message") == 0
    assert all(i not in env.telegram.messages[CHAT] for i in ids)
    assert env.counter("bot_gate_actions_total", action="delete") == 5
    assert outbox_count(env, "delete", "done") == 5
    assert env.outbox.entries() == []


async def test_deletions_of_two_chats_make_two_calls(env: Env) -> None:
    env.telegram.supergroup(OTHER_CHAT, "Other")
    await env.protect()
    await env.protect(OTHER_CHAT)
    here, there = posted(env, 2), posted(env, 3, OTHER_CHAT)
    await env.outbox.record(
        [plan.delete(CHAT, here[0]), plan.delete(OTHER_CHAT, there[2])]
        + [plan.delete(OTHER_CHAT, i) for i in there[:2]]
        + [plan.delete(CHAT, here[1])]
    )

    await env.drain()

    calls = {
        c.args["chat_id"]: c.args["message_ids"] for c in env.telegram.calls_of("delete_messages")
    }
    assert env.telegram.count("delete_messages") == 2
    assert calls == {CHAT: here, OTHER_CHAT: there}


async def test_more_than_a_hundred_deletions_go_out_in_chunks_of_a_hundred(env: Env) -> None:
    await env.protect()
    ids = posted(env, 2 * BATCH + 50)
    shuffled = list(ids)
    random.Random(7).shuffle(shuffled)
    await record_deletions(env, CHAT, shuffled)

    await env.drain()

    batches = [c.args["message_ids"] for c in env.telegram.calls_of("delete_messages")]
    assert BATCH == 100  # deleteMessages takes at most 100 ids
    assert [len(b) for b in batches] == [100, 100, 50]
    assert all(b == sorted(b) for b in batches)
    assert sorted(i for b in batches for i in b) == ids
    assert env.telegram.messages[CHAT] == {}
    assert outbox_count(env, "delete", "done") == len(ids)


async def test_one_round_starts_deletions_then_mutes_checks_and_prompts(env: Env) -> None:
    await env.protect()
    await env.warm()
    gated, checked = message(env, USER), message(env, USER2)
    await env.outbox.record(
        [
            plan.prompt(gated, [CH_A], muted=True),
            plan.check(checked),
            plan.mute(message(env), [CH_A], now=0),
            plan.delete(CHAT, gated.message_id),
        ]
    )
    env.reset_counters()

    await env.workers.drain(rounds=1)

    methods = [c.method for c in env.telegram.calls]
    assert methods[:2] == ["delete_messages", "restrict"]
    # The check's look-up and the prompt follow (the look-up may yield to the prompt).
    assert sorted(methods[2:]) == ["get_member", "send_message"]
    # The check decided in turn: its actions are the next round's.
    assert {a.kind for a in env.outbox.entries()} == {
        ActionKind.DELETE,
        ActionKind.MUTE,
        ActionKind.PROMPT,
    }


# --------------------------------------------------------------------------- refusals


async def test_delete_without_the_right_is_recorded_reported_and_settled(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_restrict_members"}))
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    ids = posted(env, 3)
    await record_deletions(env, CHAT, ids)

    assert await env.drain() == 3

    group = await env.group()
    assert group is not None
    assert "can_delete_messages" in group.missing_rights
    [notice] = env.telegram.sent(OWNER)
    assert "delete messages" in notice.text
    assert env.outbox.entries() == []
    assert outbox_count(env, "delete", "refused") == 3
    assert env.counter("bot_gate_actions_total", action="delete") == 0
    # Settled for good: nothing comes back later.
    await env.retry_due()
    assert env.telegram.count("delete_messages") == 1


async def test_telegram_unavailable_leaves_deletions_in_the_outbox_until_retried(
    env: Env,
) -> None:
    await env.protect()
    ids = posted(env, 3)
    await record_deletions(env, CHAT, ids)
    env.telegram.fail("delete_messages", TelegramUnavailable("down"))

    assert await env.drain() == 0

    assert len(env.outbox.entries()) == 3
    assert all(i in env.telegram.messages[CHAT] for i in ids)
    assert outbox_count(env, "delete", "retry") == 3
    # Postponed: draining again before its backoff has passed does nothing.
    assert await env.drain() == 0
    assert env.telegram.count("delete_messages") == 1

    assert await env.retry_due() == 3

    assert [c.args["message_ids"] for c in env.telegram.calls_of("delete_messages")] == [
        ids,
        ids,
    ]
    assert all(i not in env.telegram.messages[CHAT] for i in ids)
    assert env.outbox.entries() == []
    assert outbox_count(env, "delete", "done") == 3
    await env.retry_due()
    assert env.telegram.count("delete_messages") == 2  # carried out once


async def test_a_permanent_error_is_settled_and_not_retried(env: Env) -> None:
    await env.protect()
    ids = posted(env, 2)
    await record_deletions(env, CHAT, ids)
    env.telegram.fail("delete_messages", BadRequest("Bad Request: message identifiers invalid"))

    assert await env.drain() == 2

    assert env.outbox.entries() == []
    assert outbox_count(env, "delete", "refused") == 2
    assert outbox_count(env, "delete", "retry") == 0
    await env.retry_due()
    assert env.telegram.count("delete_messages") == 1
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ()  # a bad request is not a lost right


async def test_refused_mute_records_the_lost_restrict_right(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    await env.outbox.record([plan.mute(message(env), [CH_A], now=0)])

    assert await env.drain() == 2  # the mute, and the prompt it recorded

    assert env.telegram.count("restrict") == 1
    [prompt] = env.telegram.sent(CHAT)
    assert "Your message was removed" in prompt.text  # not "muted": it did not work
    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_restrict_members",)
    [notice] = env.telegram.sent(OWNER)
    assert "restrict members" in notice.text
    assert env.outbox.entries() == []


async def test_a_refused_mute_is_counted_as_refused(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    await env.protect()
    await env.outbox.record([plan.mute(message(env), [CH_A], now=0)])
    await env.drain()
    assert outbox_count(env, "mute", "done") == 0
    assert outbox_count(env, "mute", "refused") == 1


async def test_mute_and_prompt_done_are_counted_by_kind(env: Env) -> None:
    await env.protect()
    msg = message(env)
    await env.outbox.record([plan.mute(msg, [CH_A], now=0)])
    await env.drain()
    assert env.telegram.is_muted(CHAT, USER)
    assert len(env.telegram.sent(CHAT)) == 1
    assert outbox_count(env, "mute", "done") == 1
    assert outbox_count(env, "prompt", "done") == 1
    assert outbox_count(env, "delete", "done") == 0


async def test_check_of_a_member_is_done_without_further_actions(env: Env) -> None:
    await env.protect()
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)
    msg = message(env)
    await env.outbox.record([plan.check(msg)])
    assert await env.drain() == 1
    assert outbox_count(env, "check", "done") == 1
    assert env.outbox.entries() == []
    assert msg.message_id in env.telegram.messages[CHAT]


# --------------------------------------------------------------------------- bugs


async def test_an_unexpected_error_is_retried_then_given_up(env: Env) -> None:
    MAX_DELIVERIES = env.settings.outbox_max_attempts
    await env.protect()
    await env.outbox.record([plan.mute(message(env), [CH_A], now=0)])
    env.telegram.fail("restrict", RuntimeError("a bug"), times=10 * MAX_DELIVERIES)

    with capture_logs() as logs:  # (and no traceback rendered for each attempt)
        await env.drain()
        for _ in range(MAX_DELIVERIES - 1):
            assert len(env.outbox.entries()) == 1
            await env.retry_due()

    events = [e["event"] for e in logs if e["log_level"] == "error"]
    assert events == ["outbox_action_failed"] * (MAX_DELIVERIES - 1) + ["outbox_action_given_up"]

    assert env.telegram.count("restrict") == MAX_DELIVERIES
    assert outbox_count(env, "mute", "retry") == MAX_DELIVERIES - 1
    assert outbox_count(env, "mute", "given_up") == 1
    assert env.outbox.entries() == []
    await env.retry_due()
    assert env.telegram.count("restrict") == MAX_DELIVERIES


async def test_each_chats_deletions_are_settled_as_soon_as_they_are_done(env: Env) -> None:
    """A slow chat's batch does not keep a fast chat's finished batch unsettled: an
    instance dying meanwhile would have it deleted a second time."""
    env.telegram.supergroup(OTHER_CHAT, "Other")
    await env.protect()
    await env.protect(OTHER_CHAT)
    fast, slow = message(env), message(env, chat_id=OTHER_CHAT)
    await env.outbox.record(
        [plan.delete(CHAT, fast.message_id), plan.delete(OTHER_CHAT, slow.message_id)]
    )
    release = asyncio.Event()
    real = env.telegram.delete_messages

    async def delete_messages(chat_id: int, message_ids: Sequence[int]) -> None:
        if chat_id == OTHER_CHAT:
            await release.wait()
        await real(chat_id, message_ids)

    env.telegram.delete_messages = delete_messages  # type: ignore[method-assign]
    settled: list[list[str]] = []

    async def on_done(entries: list[OutboxEntry]) -> None:
        settled.append([e.action.key for e in entries])

    runner = asyncio.create_task(env.runner.run(await env.outbox.take("w", 10), on_done=on_done))
    for _ in range(100):
        if settled:
            break
        await asyncio.sleep(0.001)
    assert settled == [[f"del:{CHAT}:{fast.message_id}"]]  # while the other chat waits
    release.set()
    await runner
    assert settled[1] == [f"del:{OTHER_CHAT}:{slow.message_id}"]


# --------------------------------------------------------------------------- faults


async def test_a_refusal_is_audited_and_counted_with_its_reason(env: Env) -> None:
    await env.protect()
    ids = posted(env, 2)
    await record_deletions(env, CHAT, ids)
    env.telegram.fail("delete_messages", BadRequest("Bad Request: message to delete not found"))

    assert await env.drain() == 2

    refusals = env.counter("bot_action_refusals_total", kind="delete", reason="message_gone")
    assert refusals == 2
    audited = [e for e in await env.audit() if e.kind is AuditKind.ACTION_REFUSED]
    assert len(audited) == 2
    assert all("message_gone" in e.detail and "delete" in e.detail for e in audited)


async def test_transient_failures_back_off_and_the_action_is_done_once(env: Env) -> None:
    """Each attempt waits longer than the last; the attempts count across postponements,
    and the action is carried out once Telegram takes it."""
    await env.protect()
    await env.outbox.record([plan.mute(message(env), [CH_A], now=0)])
    env.telegram.fail("restrict", TelegramUnavailable("Bad Gateway"), times=3)

    assert await env.drain() == 0  # first attempt failed: postponed
    assert await env.drain() == 0  # not due yet: nothing is retried at once
    assert env.telegram.count("restrict") == 1
    for attempt in (2, 3, 4):
        env.clock.advance(env.settings.outbox_retry_cap * 1.25 + 0.1)
        await env.drain()
        assert env.telegram.count("restrict") == attempt
    assert outbox_count(env, "mute", "retry") == 3
    assert outbox_count(env, "mute", "done") == 1
    assert [a for a in env.outbox.entries() if a.kind is ActionKind.MUTE] == []
    await env.retry_due()
    assert env.telegram.count("restrict") == 4


def test_the_backoff_doubles_up_to_its_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, max_attempts=10)
    for attempts, nominal in ((1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (9, 8.0)):
        delays = [policy.delay(attempts) for _ in range(50)]
        assert all(0.75 * nominal <= d <= 1.25 * nominal for d in delays)
    assert policy.delay(1, RetryLater(30)) == 30  # never sooner than Telegram asked


async def test_an_entry_whose_claim_lapsed_is_left_alone(env: Env) -> None:
    """A worker frozen past its claim makes no call for the entry and neither settles
    nor postpones it: another consumer has it by now."""
    await env.protect()
    ids = posted(env, 1)
    await record_deletions(env, CHAT, ids)
    taken = await env.outbox.take("frozen", 10)
    lapsed = {e.entry_id: Fence(e.entry_id, time.monotonic() - 1) for e in taken}

    assert await env.runner.run(taken, env.outbox.settle, lapsed) == []

    assert env.telegram.count("delete_messages") == 0
    assert outbox_count(env, "delete", "fenced") == 1
    assert len(env.outbox.entries()) == 1  # still there, for whoever takes it next


def test_after_a_call_that_timed_out_the_retry_waits_for_its_outcome() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, unknown_wait=10.0)
    hung = TelegramUnavailable("Request timeout error", "restrictChatMember", outcome_unknown=True)
    assert policy.delay(1, hung) == 10.0
    assert policy.delay(1, TelegramUnavailable("Bad Gateway")) < 1


async def test_an_action_stranded_by_a_redis_outage_survives_redis_coming_back_empty(
    env: Env,
) -> None:
    """Telegram failed and the outbox was gone too, so the entry could not be put back:
    the worker keeps it and records it again once Redis answers, here empty."""
    await env.protect()
    ids = posted(env, 1)
    await record_deletions(env, CHAT, ids)
    real = env.telegram.delete_messages

    async def down_with_redis(chat_id: int, message_ids: Sequence[int]) -> None:
        env.outbox.available = False
        raise TelegramUnavailable("Bad Gateway")

    env.telegram.delete_messages = down_with_redis  # type: ignore[method-assign]
    assert await env.workers.drain() == 0
    env.telegram.delete_messages = real  # type: ignore[method-assign]
    env.outbox.lose_everything()  # Redis restarted without its data
    env.outbox.available = True

    assert await env.drain() == 1

    assert ids[0] not in env.telegram.messages[CHAT]
    assert env.telegram.count("delete_messages") == 1
    assert await env.retry_due() == 0


async def test_a_settle_the_outbox_missed_is_made_later_and_nothing_is_done_twice(
    env: Env,
) -> None:
    await env.protect()
    ids = posted(env, 1)
    await record_deletions(env, CHAT, ids)
    real = env.telegram.delete_messages

    async def then_redis_goes(chat_id: int, message_ids: Sequence[int]) -> None:
        await real(chat_id, message_ids)
        env.outbox.available = False

    env.telegram.delete_messages = then_redis_goes  # type: ignore[method-assign]
    assert await env.workers.drain() == 1  # done; its settle could not be written
    env.telegram.delete_messages = real  # type: ignore[method-assign]
    env.outbox.available = True
    assert len(env.outbox.entries()) == 1

    await env.drain()  # the settle is made first: nothing is handed out again
    assert env.outbox.entries() == []
    await env.retry_due()
    assert env.telegram.count("delete_messages") == 1
