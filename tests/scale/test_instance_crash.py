"""An instance SIGKILLed while it holds outbox work loses nothing and does nothing twice:
another instance takes its entries over once they have gone OUTBOX_CLAIM_AFTER without a
sign of life, and carries them out; every offending message is deleted once, every gated
user muted once and prompted once. The victim is killed while its work waits on Telegram
(a 429), so none of it was sent (tests/scale/crash.py). Each test restarts the instance it
killed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

from bot_api_emulator import Chat
from gmbot.domain.actions import Priority
from tests.scale.crash import kill_the_busiest_during_a_hold, story
from tests.scale.journal import (
    assert_all_answered,
    covered,
    deletes,
    done_after,
    journal_mark,
    last_update_id,
    mutes,
    prompt_calls,
    prompts,
    raid_notices,
    settle,
    update_ids_of,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.processes import wait_until
from tests.scale.settings import OUTBOX_CLAIM_AFTER
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import gather_limited, make_load_world, make_world, protect, protect_all

pytestmark = WEBHOOK_CLUSTER

# Long enough to see the 429, find who holds what and kill it before the hold ends.
HOLD = 3


async def test_a_prompt_cut_short_by_a_crash_is_sent_by_another_instance(
    cluster: Cluster,
) -> None:
    c = cluster
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    stranger, g = w.strangers[0], w.group.id
    since = await journal_mark(c)
    # The prompt meets a 429: the worker holding it waits the retry_after out, its claim
    # kept alive meanwhile, and dies then.
    await c.emu.add_fault("sendMessage", chat_id=g, retry_after=HOLD, times=1)
    message = await c.emu.send_message(g, stranger.id, "spam")

    async def holder() -> str | None:
        refused = [r for r in await prompt_calls(c, since, g, stranger.id) if r.status == 429]
        if not refused:
            return None
        held = [h for h in await c.outbox.held((Priority.PROMPT,)) if h.chat_id == g]
        return held[0].consumer if held else None

    holder_id = await wait_until(
        holder,
        timeout=20,
        message="no worker met the 429 on the prompt",
        watch=[i.proc for i in c.instances],
    )
    victim = c.instance(holder_id)
    async with c.restored_after(victim):
        await c.metrics()  # the victim's last numbers
        await victim.proc.kill()
        killed_at = time.time()
        await settle(c, timeout=60)
        records = await c.emu.requests(bot_id=c.bot.id, since=since)
        sent = [r for r in await prompt_calls(c, since, g, stranger.id) if r.ok]
        report(
            "5a. crash while waiting out a 429 on the prompt",
            f"{victim.instance_id} killed holding the prompt; afterwards: message deleted "
            f"{deletes(records)[(g, message['message_id'])]}x, user muted "
            f"{mutes(records)[(g, stranger.id)]}x, prompts sent {len(sent)} (expected 1), "
            + (f"{sent[0].at - killed_at:.1f}s after the kill" if sent else "none"),
        )
        assert deletes(records)[(g, message["message_id"])] == 1
        assert mutes(records)[(g, stranger.id)] == 1
        assert len(sent) == 1, "the muted user never got a prompt"
        assert sent[0].at >= killed_at, "the prompt was sent before the kill"


# ----- 5. an instance killed under load -----------------------------------------------------


async def test_an_instance_killed_under_load_loses_nothing(cluster: Cluster) -> None:
    c = cluster
    emu = c.emu
    # 40 protected groups (5 subscribed users and 2 outsiders in each), then two fresh
    # outsiders in each group (two: fewer than a raid needs, so each gets a prompt).
    lw = await make_load_world(emu, c.bot, chats=40)
    chats = lw.chats
    await protect_all(c, lw)
    strangers = [await emu.create_user(f"Late{i}") for i in range(2)]

    async def join(chat: Chat) -> None:
        for user in strangers:
            await emu.set_member(chat.id, user.id, "member")

    await gather_limited(16, (join(chat) for chat in chats))
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    plan = [(chat, user) for user in [*strangers, *lw.subscribed] for chat in chats]
    random.Random(5).shuffle(plan)  # gated messages all along the stream
    sent: list[dict[str, Any] | None] = [None] * len(plan)
    progress = 0

    async def send(i: int) -> None:
        nonlocal progress
        chat, user = plan[i]
        sent[i] = await emu.send_message(chat.id, user.id, f"late {i}")
        progress += 1
        await asyncio.sleep(0.02)  # a steady stream (~150 messages/s), not one burst

    sender = asyncio.create_task(gather_limited(4, (send(i) for i in range(len(plan)))))
    try:

        async def going() -> bool:
            return progress >= len(plan) // 3

        await wait_until(going, timeout=30, message="the stream did not get going", interval=0.02)
        # A 429 on the next mute: every write of the fleet waits HOLD seconds.
        await emu.add_fault("restrictChatMember", retry_after=HOLD, times=1)
        kill = await kill_the_busiest_during_a_hold(c, "restrictChatMember", since)
        victim, held, killed_at, sent_at_kill = kill.victim, kill.held, kill.at, progress
        await sender
    finally:
        if not sender.done():
            sender.cancel()
    async with c.restored_after(victim):
        try:
            await settle(c, timeout=120)
        finally:
            await emu.clear_faults()
        settled_in = time.time() - killed_at

        ids = update_ids_of(await emu.updates(bot_id=c.bot.id), first_update)
        await assert_all_answered(c, ids)
        records = await emu.requests(bot_id=c.bot.id, since=since)
        muted, deleted, prompted = mutes(records), deletes(records), prompts(records)
        redone = kill.done_unsettled(records)  # done, not settled: may be named again
        stranger_ids = {u.id for u in strangers}
        for (chat, user), message in zip(plan, sent, strict=True):
            assert message is not None
            key = (chat.id, message["message_id"])
            if user.id in stranger_ids:
                allowed = (1, 2) if key in redone else (1,)
                assert deleted[key] in allowed, f"message {key} deleted {deleted[key]}x"
                assert muted[(chat.id, user.id)] == 1, (
                    f"user {user.id} in {chat.id} muted {muted[(chat.id, user.id)]}x"
                )
                assert covered(records, chat.id, user.id), (
                    f"user {user.id} in {chat.id}: {prompted[(chat.id, user.id)]} prompts, "
                    f"{raid_notices(records)[chat.id]} raid notices"
                )
            else:
                assert deleted[key] == 0, f"subscriber message {key} deleted"
        late = [h for h in kill.owed(records) if not done_after(records, h, killed_at)]
        assert late == [], "writes the victim held and nobody carried out after the kill:\n" + (
            story(records, late, kill)
        )
    deliveries = [d for d in await emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in ids]
    failed = Counter(d.error or str(d.status) for d in deliveries if not d.ok)
    report(
        "5. SIGKILL under load",
        f"{victim.instance_id} killed after {sent_at_kill}/{len(plan)} messages were sent, "
        f"during a {HOLD}s hold of the fleet's writes, holding {len(held)} write actions "
        f"({dict(Counter(h.kind for h in held))}); all {len(ids)} updates answered 2xx and "
        f"the outbox empty {settled_in:.1f}s after the kill (OUTBOX_CLAIM_AFTER="
        f"{OUTBOX_CLAIM_AFTER:g}s); failed attempts {dict(failed)}; every held action done "
        f"once, after the kill, but {sum(1 for k in redone if deleted[k] > 1)} of "
        f"{len(redone)} deletions it had done without settling them, named again",
    )
