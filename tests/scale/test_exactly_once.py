"""Each update is acted on once, whatever happens to its deliveries: redelivered after a lost
answer or while still being handled, posted to every instance at once, or answered 503
because a 429 outlasted the request budget."""

from __future__ import annotations

import asyncio

from tests.scale.journal import (
    assert_all_answered,
    caught_lower_bound,
    deletes,
    journal_mark,
    last_update_id,
    message_update_of,
    mutes,
    present,
    prompt_calls,
    prompts,
    reached_bot,
    settle,
    update_ids_of,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.settings import INSTANCE_SETTINGS
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import make_world, protect

pytestmark = WEBHOOK_CLUSTER


async def test_redelivered_updates_are_acted_on_once(cluster: Cluster) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=12)
    await protect(c, w)
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    dup_before = await c.total("bot_duplicate_updates_total")

    # The answers to the group's next 12 deliveries are lost: each of those updates comes
    # again (the bot has already handled it). Four deletions take longer than the emulator
    # waits for an answer: those updates come again while still being handled.
    await c.emu.add_webhook_fault("lose_response", chat_id=w.group.id, times=12)
    await c.emu.add_fault("deleteMessage", chat_id=w.group.id, latency=2.6, times=4)
    try:
        sent = [await c.emu.send_message(w.group.id, s.id, "buy followers") for s in w.strangers]
        await settle(c)
    finally:
        await c.emu.clear_faults()

    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    g = w.group.id
    for s, m in zip(w.strangers, sent, strict=True):
        assert mutes(records)[(g, s.id)] == 1, f"user {s.id} muted {mutes(records)[(g, s.id)]}x"
        assert deletes(records)[(g, m["message_id"])] == 1
        assert prompts(records)[(g, s.id)] == 1
        assert not await present(c.emu, g, m["message_id"])

    ids = update_ids_of(await c.emu.updates(bot_id=c.bot.id), first_update)
    await assert_all_answered(c, ids)
    caught_at_least, redeliveries = await caught_lower_bound(c, ids)
    caught = await c.total("bot_duplicate_updates_total") - dup_before
    assert redeliveries >= 12, f"the faults caused only {redeliveries} redeliveries"
    assert caught >= caught_at_least > 0, (
        f"{caught_at_least} deliveries reached the bot after the first, "
        f"but bot_duplicate_updates_total grew by {caught}"
    )
    report(
        "1. redelivery",
        f"{len(sent)} offending messages, {len(ids)} updates, {redeliveries} redeliveries by "
        f"the emulator; duplicates caught: {int(caught)} (>= {caught_at_least} that reached "
        "an instance); every message deleted once, every user muted and prompted once",
    )


async def test_same_update_posted_to_every_instance_at_once(cluster: Cluster) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    since = await journal_mark(c)
    dup_before = await c.total("bot_duplicate_updates_total")
    stranger, g = w.strangers[0], w.group.id

    # The handling takes a moment, so the copies arrive while the first is in flight.
    await c.emu.add_fault("restrictChatMember", chat_id=g, latency=0.5, times=1)
    await c.emu.pause_delivery()
    try:
        message = await c.emu.send_message(g, stranger.id, "spam")
        entry = message_update_of(await c.emu.updates(bot_id=c.bot.id), g, message["message_id"])
        results = await asyncio.gather(
            *(c.post_direct(inst, entry["update"]) for inst in c.instances)
        )
    finally:
        await c.emu.resume_delivery()
    await settle(c)
    await c.emu.clear_faults()

    handled = [r for r in results if r == (200, {"ok": True})]
    others = [r for r in results if r not in handled]
    assert len(handled) == 1, f"answers of the three instances: {results}"
    for status, body in others:
        assert status == 503 or (status == 200 and body.get("duplicate") is True), results

    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    assert mutes(records)[(g, stranger.id)] == 1
    assert deletes(records)[(g, message["message_id"])] == 1
    assert prompts(records)[(g, stranger.id)] == 1
    # Two direct copies, plus the emulator's own delivery(ies) once resumed.
    emulator_copies = [
        d
        for d in await c.emu.webhook_deliveries(bot_id=c.bot.id, update_id=entry["update_id"])
        if reached_bot(d)
    ]
    caught = await c.total("bot_duplicate_updates_total") - dup_before
    assert caught >= len(c.instances) - 1 + len(emulator_copies), (
        f"{len(c.instances)} direct copies and {len(emulator_copies)} emulator deliveries, "
        f"but bot_duplicate_updates_total grew by {caught}"
    )
    report(
        "1. same update to every instance",
        f"answers {[r[0] for r in results]}; emulator deliveries afterwards "
        f"{[d.status for d in emulator_copies]}; duplicates caught: {int(caught)}; acted once",
    )


async def test_a_prompt_deferred_by_a_long_429_is_sent_on_redelivery(cluster: Cluster) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    stranger, g = w.strangers[0], w.group.id
    since = await journal_mark(c)
    budget = float(INSTANCE_SETTINGS["REQUEST_BUDGET"])
    # Longer than the request budget: the webhook answers 503 and the update comes again.
    await c.emu.add_fault("sendMessage", chat_id=g, retry_after=int(budget) + 2, times=1)
    message = await c.emu.send_message(g, stranger.id, "spam")
    try:
        await settle(c, timeout=60)
    finally:
        await c.emu.clear_faults()
    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    sent = [r for r in await prompt_calls(c, since, g, stranger.id) if r.ok]
    report(
        "5b. 429 longer than the budget on the prompt",
        f"message deleted {deletes(records, ok_only=True)[(g, message['message_id'])]}x, user "
        f"muted {mutes(records)[(g, stranger.id)]}x, prompts sent {len(sent)} (expected 1)",
    )
    assert deletes(records, ok_only=True)[(g, message["message_id"])] == 1
    assert mutes(records)[(g, stranger.id)] == 1
    assert len(sent) == 1, "the muted user never got a prompt"
