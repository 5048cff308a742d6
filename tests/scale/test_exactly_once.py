"""Each update is acted on once, whatever happens to its deliveries: redelivered after a lost
answer, or posted to every instance at once; and each decided action is carried out once,
even when Telegram holds it back (a 429) for longer than an outbox claim lasts.

The webhook only decides and records (the outbox's idempotency keys make a second record
of the same decision a no-op); the instances' outbox workers act afterwards. So every
count here is read from the emulator's journal once the cluster has settled: deliveries
answered and the outbox empty.
"""

from __future__ import annotations

import asyncio

from tests.scale.journal import (
    assert_all_answered,
    caught_lower_bound,
    delete_calls,
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
from tests.scale.settings import OUTBOX_CLAIM_AFTER
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import make_world, protect

pytestmark = WEBHOOK_CLUSTER


async def test_redelivered_updates_are_acted_on_once(cluster: Cluster) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=12)
    # Per-member prompts are the point here: twelve strangers would start a raid.
    await protect(c, w, raid="off")
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    dup_before = await c.total("bot_duplicate_updates_total")

    # The answers to the group's next 12 deliveries are lost: each of those updates comes
    # again (the bot has already handled it, and recorded what to do).
    await c.emu.add_webhook_fault("lose_response", chat_id=w.group.id, times=12)
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
    batches = [r for r in delete_calls(records) if r.params.get("chat_id") == g]
    report(
        "1. redelivery",
        f"{len(sent)} offending messages, {len(ids)} updates, {redeliveries} redeliveries by "
        f"the emulator; duplicates caught: {int(caught)} (>= {caught_at_least} that reached "
        f"an instance); every message deleted once (in {len(batches)} delete calls), every "
        "user muted and prompted once",
    )


async def test_same_update_posted_to_every_instance_at_once(cluster: Cluster) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    since = await journal_mark(c)
    dup_before = await c.total("bot_duplicate_updates_total")
    stranger, g = w.strangers[0], w.group.id

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


async def test_actions_held_back_by_a_429_past_the_claim_timeout_are_done_once(
    cluster: Cluster,
) -> None:
    """The mute meets a 429 longer than an outbox claim lasts: every write of the fleet
    waits it out (the hold is shared), the worker holding the mute and the prompt keeps
    its claims meanwhile, and nobody else carries them out a second time."""
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    stranger, g = w.strangers[0], w.group.id
    since = await journal_mark(c)
    retry_after = int(2 * OUTBOX_CLAIM_AFTER) + 1
    await c.emu.add_fault("restrictChatMember", chat_id=g, retry_after=retry_after, times=1)
    message = await c.emu.send_message(g, stranger.id, "spam")
    try:
        await settle(c, timeout=60)
    finally:
        await c.emu.clear_faults()
    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    refused = mutes(records, ok_only=False)[(g, stranger.id)] - mutes(records)[(g, stranger.id)]
    sent = [r for r in await prompt_calls(c, since, g, stranger.id) if r.ok]
    entry = message_update_of(await c.emu.updates(bot_id=c.bot.id), g, message["message_id"])
    deliveries = await c.emu.webhook_deliveries(bot_id=c.bot.id, update_id=entry["update_id"])
    report(
        "5b. a 429 longer than the outbox claim",
        f"restrictChatMember answered 429 retry_after={retry_after}s "
        f"(OUTBOX_CLAIM_AFTER={OUTBOX_CLAIM_AFTER:g}s); afterwards: message deleted "
        f"{deletes(records)[(g, message['message_id'])]}x, user muted "
        f"{mutes(records)[(g, stranger.id)]}x ({refused} refused), prompts sent {len(sent)}; "
        f"webhook answers {[d.status for d in deliveries]}",
    )
    assert refused == 1, "the 429 was never met"
    assert deletes(records)[(g, message["message_id"])] == 1
    assert mutes(records)[(g, stranger.id)] == 1
    assert len(sent) == 1, f"prompts sent: {len(sent)}"
    # The message's update was answered at once: the wait was the workers', not the webhook's.
    assert [d.status for d in deliveries] == [200], deliveries
