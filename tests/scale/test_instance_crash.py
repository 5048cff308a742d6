"""An instance SIGKILLed mid-work loses nothing: in the middle of one update (waiting out a
429 on the prompt) or under a steady load, every update is still answered, every offending
message deleted, every gated user muted and prompted; at most the updates the dead instance
held are done twice. Each test restarts the instance it killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from bot_api_emulator import Chat, RequestRecord
from tests.scale.journal import (
    assert_all_answered,
    calls,
    deletes,
    journal_mark,
    last_update_id,
    message_update_of,
    mutes,
    prompt_calls,
    prompts,
    settle,
    update_ids_of,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.processes import wait_until
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import gather_limited, make_load_world, make_world, protect, protect_all

pytestmark = WEBHOOK_CLUSTER


async def test_a_prompt_cut_short_by_a_crash_is_sent_by_another_instance(
    cluster: Cluster,
) -> None:
    c = cluster
    victim = c.instances[2]
    w = await make_world(c.emu, c.bot, members=0, strangers=1)
    await protect(c, w)
    await settle(c)
    stranger, g = w.strangers[0], w.group.id
    since = await journal_mark(c)
    # The victim's prompt meets a 429 (retry_after 4 s, within the request budget): it waits
    # to send it again, holding the update's claim and the prompt slot, and dies then.
    await c.emu.add_fault("sendMessage", chat_id=g, retry_after=4, times=1)
    await c.emu.pause_delivery()
    try:
        message = await c.emu.send_message(g, stranger.id, "spam")
        entry = message_update_of(await c.emu.updates(bot_id=c.bot.id), g, message["message_id"])
        direct = asyncio.create_task(c.post_direct(victim, entry["update"]))
        await wait_until(
            lambda: calls(c, "sendMessage", since, chat_id=g),
            timeout=20,
            message="the victim never tried to send the prompt",
        )
        await c.metrics()  # the victim's last numbers
        await victim.proc.kill()
        with contextlib.suppress(Exception):
            await direct
    finally:
        await c.emu.resume_delivery()
    try:
        await settle(c)  # the emulator's delivery; handled once the dead claim lapses
        records = await c.emu.requests(bot_id=c.bot.id, since=since)
        sent = [r for r in await prompt_calls(c, since, g, stranger.id) if r.ok]
        report(
            "5a. crash between claim and prompt",
            f"{victim.instance_id} killed while waiting out a 429 on the prompt; afterwards: "
            f"message deleted {deletes(records, ok_only=True)[(g, message['message_id'])]}x, "
            f"user muted {mutes(records)[(g, stranger.id)]}x, prompts sent {len(sent)} "
            "(expected 1)",
        )
        assert deletes(records, ok_only=True)[(g, message["message_id"])] == 1
        assert mutes(records)[(g, stranger.id)] == 1
        assert len(sent) == 1, "the muted user never got a prompt"
    finally:
        await c.restart(victim)


# ----- 5. an instance killed under load -----------------------------------------------------


# One atomic pass over the update claims (a claim lapses within UPDATE_LEASE, so a slow
# client-side scan could miss some): the update keys whose lease token names the instance.
_HELD_BY = """
local cursor, held = '0', {}
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local value = redis.call('GET', key)
    if value and string.sub(value, 1, #ARGV[2]) == ARGV[2] then table.insert(held, key) end
  end
until cursor == '0'
return held
"""


async def leases_held_by(c: Cluster, redis_url: str, instance_id: str) -> set[int]:
    """update_ids whose claim the (dead) instance still holds."""
    client: Redis = Redis.from_url(redis_url)
    prefix = f"{c.namespace}update:"
    try:
        keys = await client.eval(_HELD_BY, 0, f"{prefix}*", f"{instance_id}:")
    finally:
        await client.aclose()
    return {int(k.decode().removeprefix(prefix)) for k in keys}


async def test_an_instance_killed_under_load_loses_nothing(
    cluster: Cluster, redis_url: str
) -> None:
    c = cluster
    victim = c.instances[1]
    emu = c.emu
    # 40 protected groups (5 subscribed users and 2 outsiders in each), then fresh
    # outsiders, three in each group.
    lw = await make_load_world(emu, c.bot, chats=40)
    chats = lw.chats
    await protect_all(c, lw)
    strangers = [await emu.create_user(f"Late{i}") for i in range(3)]

    async def join(chat: Chat) -> None:
        for user in strangers:
            await emu.set_member(chat.id, user.id, "member")

    await gather_limited(16, (join(chat) for chat in chats))
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    # Slow mutes keep updates in flight on every instance when the victim dies.
    await emu.add_fault("restrictChatMember", latency=0.3)
    plan = [(chat, user) for user in [*strangers, *lw.subscribed] for chat in chats]
    sent: list[dict[str, Any] | None] = [None] * len(plan)
    progress = 0

    async def send(i: int) -> None:
        nonlocal progress
        chat, user = plan[i]
        sent[i] = await emu.send_message(chat.id, user.id, f"late {i}")
        progress += 1
        await asyncio.sleep(0.02)  # a steady stream (~150 messages/s), not one burst

    async with c.restored_after(victim):
        sender = asyncio.create_task(gather_limited(4, (send(i) for i in range(len(plan)))))
        try:
            await wait_until(
                lambda: _busy(c, victim, progress, len(plan)),
                timeout=30,
                message="the victim never had work in flight",
                interval=0.02,
            )
            await c.metrics()  # the victim's last numbers
            await victim.proc.kill()
            orphaned = await leases_held_by(c, redis_url, victim.instance_id)
            killed_at, sent_at_kill = time.monotonic(), progress
            await sender
        finally:
            if not sender.done():
                sender.cancel()
        try:
            await settle(c, timeout=120)
        finally:
            await emu.clear_faults()
        recovered_in = time.monotonic() - killed_at

        ids = update_ids_of(await emu.updates(bot_id=c.bot.id), first_update)
        await assert_all_answered(c, ids)
        updates = {u["update_id"]: u for u in await emu.updates(bot_id=c.bot.id)}
        records = await emu.requests(bot_id=c.bot.id, since=since)
        muted, deleted, ok_deleted, prompted = (
            mutes(records),
            deletes(records),
            deletes(records, ok_only=True),
            prompts(records),
        )
        stranger_ids = {u.id for u in strangers}
        redone = unprompted = 0
        for (chat, user), message in zip(plan, sent, strict=True):
            assert message is not None
            key = (chat.id, message["message_id"])
            uid = message_update_of(list(updates.values()), chat.id, message["message_id"])[
                "update_id"
            ]
            # An update the victim held when it died may be done again (at least once);
            # every other update exactly once.
            allowed = 2 if uid in orphaned else 1
            if user.id in stranger_ids:
                if not (ok_deleted[key] == 1 and 1 <= deleted[key] <= allowed):
                    detail = await explain(c, records, uid, key, orphaned, killed_at)
                    raise AssertionError(
                        f"message {key}: deleteMessage {deleted[key]}x ({ok_deleted[key]} ok)\n"
                        + detail
                    )
                times_muted, times_prompted = (
                    muted[(chat.id, user.id)],
                    prompted[(chat.id, user.id)],
                )
                # Every gated user gets a prompt, even when the victim died between
                # claiming the prompt slot and sending it (the redelivery re-claims it).
                if not (1 <= times_muted <= allowed and 1 <= times_prompted <= allowed):
                    detail = await explain(c, records, uid, key, orphaned, killed_at)
                    raise AssertionError(
                        f"user {user.id} in {chat.id}: muted {times_muted}x, prompted "
                        f"{times_prompted}x\n{detail}"
                    )
                redone += times_muted - 1
                unprompted += times_prompted == 0
            else:
                assert deleted[key] == 0
        deliveries = [
            d for d in await emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in ids
        ]
        failed = Counter(d.error or str(d.status) for d in deliveries if not d.ok)
        report(
            "5. SIGKILL under load",
            f"{victim.instance_id} killed after {sent_at_kill}/{len(plan)} messages were sent, "
            f"holding {len(orphaned)} update claims; all {len(ids)} updates answered 2xx "
            f"{recovered_in:.1f}s later; failed attempts {dict(failed)}; "
            f"mutes repeated after the kill: {redone}, gated users left without a prompt: "
            f"{unprompted}",
        )


_GATE_METHODS = ("restrictChatMember", "sendMessage")


async def explain(
    c: Cluster,
    records: list[RequestRecord],
    update_id: int,
    key: tuple[int, int],
    orphaned: set[int],
    killed_at: float,
) -> str:
    """What happened to one update: Bot API calls, deliveries, instance log lines."""
    lines = [f"update {update_id} (held by the victim at the kill: {update_id in orphaned})"]
    for r in records:
        if r.method == "deleteMessage" and (r.params["chat_id"], r.params["message_id"]) == key:
            lines.append(f"  deleteMessage status={r.status} via={r.via} at={r.at:.3f}")
        elif r.params.get("chat_id") == key[0] and r.method in _GATE_METHODS:
            lines.append(f"  {r.method} status={r.status} at={r.at:.3f} {str(r.params)[:120]}")
    for d in await c.emu.webhook_deliveries(bot_id=c.bot.id, update_id=update_id):
        lines.append(
            f"  delivery attempt={d.attempt} status={d.status} error={d.error} at={d.at} "
            f"duration={d.duration:.3f}"
        )
    needle = f'"update_id": {update_id}'
    for inst in c.instances:
        for line in inst.proc.lines():
            if needle + "," in line or needle + "}" in line:
                lines.append(f"  {inst.instance_id}: {line[:300]}")
    lines.append(f"  (killed at monotonic {killed_at:.3f})")
    return "\n".join(lines)


async def _busy(c: Cluster, victim: Any, progress: int, total: int) -> bool:
    """A third of the messages sent and the victim handling some: time to kill it."""
    if progress < total // 3:
        return False
    inflight = (await c.metrics())[victim.instance_id].total("bot_webhook_requests_in_flight")
    return inflight >= 1 or progress >= 2 * total // 3
