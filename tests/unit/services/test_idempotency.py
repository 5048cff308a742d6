"""Idempotency: a redelivered update, a member's many messages and a replayed outbox
entry each lead to Telegram doing every action once."""

from __future__ import annotations

from gmbot.domain.actions import ActionKind
from gmbot.services import gate_plan as plan
from gmbot.services.gate import Verdict
from tests.unit.services.support import CH_A, CHAT, USER, Env, message


def prompts(env: Env) -> int:
    return len([m for m in env.telegram.sent(CHAT) if "please" in m.text])


def deleted_ids(env: Env) -> list[int]:
    return [i for c in env.telegram.calls_of("delete_messages") for i in c.args["message_ids"]]


async def test_a_message_decided_twice_before_the_workers_ran_is_acted_on_once(
    env: Env,
) -> None:
    await env.protect()
    msg = message(env)
    # The update is redelivered while the first delivery's check is still queued.
    assert await env.gate.on_message(msg) is Verdict.QUEUED
    assert await env.gate.on_message(msg) is Verdict.QUEUED
    assert [a.kind for a in env.outbox.entries()] == [ActionKind.CHECK]

    await env.drain()

    assert deleted_ids(env) == [msg.message_id]
    assert env.telegram.count("delete_messages") == 1
    assert env.telegram.count("restrict") == 1
    assert prompts(env) == 1
    assert env.telegram.count("get_member") == 1


async def test_a_message_decided_again_after_the_workers_ran_is_not_acted_on_again(
    env: Env,
) -> None:
    await env.protect()
    msg = message(env)
    await env.gate_message(msg)
    env.reset_counters()

    # Redelivered later: the cache now says "not joined", so the gate decides at once,
    # and every action's key is known as carried out.
    assert await env.gate_message(msg) is Verdict.REMOVED

    assert env.telegram.calls == []
    assert env.outbox.entries() == []
    assert prompts(env) == 1


async def test_five_messages_of_one_member_make_one_mute_and_one_prompt(env: Env) -> None:
    await env.protect()
    await env.warm()
    await env.members.put(USER, CH_A, False)
    msgs = [message(env) for _ in range(5)]

    for msg in msgs:
        assert await env.gate.on_message(msg) is Verdict.REMOVED
    recorded = [a.kind for a in env.outbox.entries()]
    assert recorded.count(ActionKind.DELETE) == 5
    assert recorded.count(ActionKind.MUTE) == 1  # one mute key per member
    await env.drain()

    assert [c.args["message_ids"] for c in env.telegram.calls_of("delete_messages")] == [
        [m.message_id for m in msgs]
    ]
    assert env.telegram.count("restrict") == 1
    assert prompts(env) == 1
    assert all(m.message_id not in env.telegram.messages[CHAT] for m in msgs)


async def test_five_messages_with_a_cold_cache_make_one_mute_and_one_prompt(env: Env) -> None:
    await env.protect()
    msgs = [message(env) for _ in range(5)]

    for msg in msgs:
        assert await env.gate.on_message(msg) is Verdict.QUEUED
    await env.drain()

    assert sorted(deleted_ids(env)) == [m.message_id for m in msgs]
    assert env.telegram.count("delete_messages") == 1  # batched after the checks
    assert env.telegram.count("restrict") == 1
    assert prompts(env) == 1
    assert env.telegram.count("get_member") == 1  # the others waited for its answer


async def test_a_settled_key_is_not_recorded_again(env: Env) -> None:
    await env.protect()
    msg = message(env)
    actions = [plan.delete(CHAT, msg.message_id), plan.mute(message(env), [CH_A], now=0)]
    assert await env.outbox.record(actions) == 2
    await env.drain()

    # Replayed: the same decision again, or the streams lost and rebuilt.
    assert await env.outbox.record(actions) == 0
    env.outbox.lose_streams()
    assert await env.outbox.record(actions) == 0
    await env.drain()

    assert env.telegram.count("delete_messages") == 1
    assert env.telegram.count("restrict") == 1


async def test_an_entry_whose_key_was_settled_elsewhere_is_not_carried_out(env: Env) -> None:
    await env.protect()
    msg = message(env)
    delete = plan.delete(CHAT, msg.message_id)
    mute = plan.mute(message(env), [CH_A], now=0)
    await env.outbox.record([delete, mute])
    # Another consumer carried both out; its "done" marks landed, its acknowledgement not.
    env.outbox.mark_done(delete.key)
    env.outbox.mark_done(mute.key)

    assert await env.drain() == 0

    assert env.telegram.calls == []
    assert env.outbox.entries() == []
    assert msg.message_id in env.telegram.messages[CHAT]


async def test_an_entry_handed_out_again_after_its_consumer_went_silent_runs_once(
    env: Env,
) -> None:
    await env.protect()
    msg = message(env)
    await env.outbox.record([plan.delete(CHAT, msg.message_id)])
    # A consumer took it and died before carrying it out.
    [taken] = await env.outbox.take("dead-instance", 10)
    assert await env.drain() == 0  # not ours yet: its claim still holds

    assert await env.retry_due() == 1

    assert deleted_ids(env) == [msg.message_id]
    assert taken.deliveries == 1
    await env.retry_due()
    assert env.telegram.count("delete_messages") == 1
