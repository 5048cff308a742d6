"""Three webhook instances behind nginx: each update acted on once, shared caches and
database, bounded connections, and no update lost when an instance dies.

Tests run in file order and share the cluster (module scope); the SIGKILL test comes last.
Every count of what the bot did comes from the emulator's request journal (what reached
"Telegram"), never from the bot's own word; metrics are used for what only the bot knows
(duplicates it caught, which instance did the work).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot_api_emulator import Chat, EmulatorClient, RequestRecord, User
from tests.scale.conftest import INSTANCE_SETTINGS
from tests.scale.helpers import (
    CALLBACK_PREFIX,
    GROUP_PERMISSIONS,
    PROTECTED,
    Cluster,
    World,
    gather_limited,
    handled,
    make_world,
    message_update_of,
    report,
    wait_until,
)

pytestmark = [
    pytest.mark.scale,
    pytest.mark.nginx,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.subprocess,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(240),
]

SETTLE_TIMEOUT = 90.0


# ----- observing the emulator ---------------------------------------------------------------


async def journal_mark(c: Cluster) -> int:
    records = await c.emu.requests(bot_id=c.bot.id, since=0)
    return records[-1].seq if records else 0


async def calls(
    c: Cluster, method: str, since: int, *, chat_id: int | None = None
) -> list[RequestRecord]:
    records = await c.emu.requests(method, bot_id=c.bot.id, since=since)
    return [r for r in records if chat_id is None or r.params.get("chat_id") == chat_id]


def mutes(records: list[RequestRecord]) -> Counter[tuple[int, int]]:
    """restrictChatMember calls taking the right to write away, by (chat, user)."""
    return Counter(
        (r.params["chat_id"], r.params["user_id"])
        for r in records
        if r.method == "restrictChatMember"
        and r.params.get("permissions", {}).get("can_send_messages") is False
    )


def deletes(records: list[RequestRecord], *, ok_only: bool = False) -> Counter[tuple[int, int]]:
    """deleteMessage calls by (chat, message_id)."""
    return Counter(
        (r.params["chat_id"], r.params["message_id"])
        for r in records
        if r.method == "deleteMessage" and (r.ok or not ok_only)
    )


def prompted_user(record: RequestRecord) -> int | None:
    """The user a prompt (a sendMessage with the "I've joined" button) is for, else None."""
    if record.method != "sendMessage":
        return None
    markup = record.params.get("reply_markup") or {}
    for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
        for button in row:
            data = str(button.get("callback_data", ""))
            prefix, _, user = data.partition(":")
            if prefix == CALLBACK_PREFIX and user.lstrip("-").isdigit():
                return int(user)
    return None


def prompts(records: list[RequestRecord]) -> Counter[tuple[int, int]]:
    """Prompts sent, by (chat, prompted user)."""
    counted: Counter[tuple[int, int]] = Counter()
    for r in records:
        user = prompted_user(r)
        if user is not None:
            counted[(r.params["chat_id"], user)] += 1
    return counted


async def settle(c: Cluster, timeout: float = SETTLE_TIMEOUT) -> None:  # noqa: ASYNC109
    """Until the emulator has nothing pending or in flight for the bot."""
    await wait_until(
        lambda: _settled(c.emu, c.bot.id),
        timeout=timeout,
        message="the emulator still had updates pending or in flight",
        interval=0.1,
        watch=[i.proc for i in c.instances],
    )


async def _settled(emu: EmulatorClient, bot_id: int) -> bool:
    bot = (await emu.stats())["bots"][str(bot_id)]
    return bot["pending"] == 0 and bot["in_flight"] == 0


async def protect(c: Cluster, world: World) -> None:
    """/protect through the normal path (emulator -> nginx -> some instance)."""
    message = await c.emu.send_message(
        world.group.id, world.admin.id, f"/protect @{world.channel.username}"
    )

    async def reply() -> str | None:
        for m in await c.emu.messages(world.group.id):
            if m["message_id"] > message["message_id"] and m.get("from", {}).get("id") == c.bot.id:
                return str(m.get("text", ""))
        return None

    text = await wait_until(
        reply,
        timeout=30,
        message="the bot did not answer /protect",
        watch=[i.proc for i in c.instances],
    )
    assert text.startswith(PROTECTED), text


async def present(emu: EmulatorClient, chat_id: int, message_id: int) -> bool:
    return any(m["message_id"] == message_id for m in await emu.messages(chat_id))


def reached_bot(delivery: Any) -> bool:
    """The attempt reached nginx and got or awaited an answer (not a refused connection)."""
    return delivery.status is not None or delivery.error == "Read timeout expired"


async def caught_lower_bound(c: Cluster, update_ids: set[int]) -> tuple[int, int]:
    """(deliveries of these updates after their first that reached the bot, redeliveries)."""
    deliveries = [
        d for d in await c.emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in update_ids
    ]
    per_update = Counter(d.update_id for d in deliveries if reached_bot(d))
    redeliveries = sum(1 for d in deliveries if d.attempt > 1)
    return sum(n - 1 for n in per_update.values() if n > 1), redeliveries


async def assert_all_answered(c: Cluster, update_ids: set[int]) -> None:
    deliveries = await c.emu.webhook_deliveries(bot_id=c.bot.id)
    answered = {d.update_id for d in deliveries if d.ok}
    missing = sorted(update_ids - answered)
    assert missing == [], f"updates never answered 2xx: {missing[:20]} ({len(missing)})"


def update_ids_of(updates: list[dict[str, Any]], after: int) -> set[int]:
    return {u["update_id"] for u in updates if u["update_id"] > after}


async def last_update_id(c: Cluster) -> int:
    return int((await c.emu.stats())["bots"][str(c.bot.id)]["last_update_id"])


# ----- 1. no duplicate processing -----------------------------------------------------------


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


# ----- 2. cache coherence -------------------------------------------------------------------


async def test_a_verification_cached_by_one_instance_serves_the_others(cluster: Cluster) -> None:
    c = cluster
    a, b, cc = c.instances
    w = await make_world(c.emu, c.bot, members=1, strangers=0)
    await protect(c, w)
    await settle(c)
    member, g = w.members[0], w.group.id
    since = await journal_mark(c)
    before = await c.metrics()

    await c.emu.pause_delivery()
    try:
        messages = [await c.emu.send_message(g, member.id, f"hello {i}") for i in range(3)]
        updates = await c.emu.updates(bot_id=c.bot.id)
        for inst, message in zip((a, b, cc), messages, strict=True):
            entry = message_update_of(updates, g, message["message_id"])
            assert await c.post_direct(inst, entry["update"]) == (200, {"ok": True})
    finally:
        await c.emu.resume_delivery()
    await settle(c)
    after = await c.metrics()

    checks = [
        r for r in await calls(c, "getChatMember", since) if r.params.get("user_id") == member.id
    ]
    assert len(checks) == 1, f"getChatMember for the member: {len(checks)} calls"
    assert checks[0].params["chat_id"] in (w.channel.id, f"@{w.channel.username}")

    def delta(inst: Any, name: str, **labels: str) -> float:
        return after[inst.instance_id].total(name, **labels) - before[inst.instance_id].total(
            name, **labels
        )

    gcm = {
        i.instance_id: delta(i, "bot_api_calls_total", method="getChatMember") for i in c.instances
    }
    assert gcm == {a.instance_id: 1, b.instance_id: 0, cc.instance_id: 0}, gcm
    for inst in (b, cc):
        # The message was handled there (not merely acknowledged), from the shared cache.
        work = handled(after[inst.instance_id]) - handled(before[inst.instance_id])
        assert work >= 1, f"{inst.instance_id} handled nothing ({work})"
    for message in messages:
        assert await present(c.emu, g, message["message_id"])
    assert await calls(c, "deleteMessage", since, chat_id=g) == []
    report(
        "2. cache coherence",
        f"{a.instance_id} checked the member (getChatMember x1); {b.instance_id} and "
        f"{cc.instance_id} used the shared cache: getChatMember per instance {gcm}",
    )


# ----- 3. database consistency --------------------------------------------------------------


async def test_protect_on_one_instance_is_enforced_by_the_others(cluster: Cluster) -> None:
    c = cluster
    a, b, cc = c.instances
    w = await make_world(c.emu, c.bot, members=0, strangers=3)
    g, early, late_b, late_c = w.group.id, *w.strangers
    since = await journal_mark(c)
    before = await c.metrics()

    async def post(inst: Any, user: User, text: str) -> dict[str, Any]:
        message = await c.emu.send_message(g, user.id, text)
        entry = message_update_of(await c.emu.updates(bot_id=c.bot.id), g, message["message_id"])
        assert await c.post_direct(inst, entry["update"]) == (200, {"ok": True})
        return message

    await c.emu.pause_delivery()
    try:
        # B and C see the group unprotected first (whatever they cache, they cache that) ...
        free_b = await post(b, early, "before protection (B)")
        free_c = await post(cc, early, "before protection (C)")
        # ... then A handles /protect ...
        await post(a, w.admin, f"/protect @{w.channel.username}")
        # ... and the next message on B and on C is gated.
        gated_b = await post(b, late_b, "after protection (B)")
        gated_c = await post(cc, late_c, "after protection (C)")
    finally:
        await c.emu.resume_delivery()
    await settle(c)
    after = await c.metrics()

    replies = [
        r for r in await calls(c, "sendMessage", since, chat_id=g) if PROTECTED in r.params["text"]
    ]
    assert len(replies) == 1, "A did not confirm /protect exactly once"
    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    assert await present(c.emu, g, free_b["message_id"])
    assert await present(c.emu, g, free_c["message_id"])
    for user, message in ((late_b, gated_b), (late_c, gated_c)):
        assert not await present(c.emu, g, message["message_id"]), "not enforced"
        assert deletes(records)[(g, message["message_id"])] == 1
        assert mutes(records)[(g, user.id)] == 1
    assert mutes(records)[(g, early.id)] == 0
    actions = {
        i.instance_id: after[i.instance_id].total("bot_gate_actions_total")
        - before[i.instance_id].total("bot_gate_actions_total")
        for i in (b, cc)
    }
    assert all(n >= 1 for n in actions.values()), f"gate actions per instance: {actions}"
    report(
        "3. database consistency",
        f"/protect on {a.instance_id}; the next message on {b.instance_id} and on "
        f"{cc.instance_id} was deleted and its sender muted (gate actions {actions})",
    )


# ----- 5a. an instance killed in the middle of one update ----------------------------------


async def prompt_calls(c: Cluster, since: int, chat_id: int, user_id: int) -> list[RequestRecord]:
    sent = await calls(c, "sendMessage", since, chat_id=chat_id)
    return [r for r in sent if prompted_user(r) == user_id]


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


# ----- 4. connection limits under load ------------------------------------------------------


@dataclass
class LoadWorld:
    admin: User
    channel: Chat
    chats: list[Chat]
    subscribed: list[User]
    outsiders: list[User]


CHATS = 200
MESSAGES = 2000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def load_world(cluster: Cluster) -> LoadWorld:
    """200 protected supergroups sharing one channel; 5 subscribed users and 2 outsiders in
    every group."""
    c = cluster
    started = time.monotonic()
    emu = c.emu
    admin = await emu.create_user("Owner", None)
    channel = await emu.create_chat(
        "channel", "Load news", username=f"loadnews_{c.bot.id}", creator_id=admin.id
    )
    subscribed = [await emu.create_user(f"Sub{i}") for i in range(5)]
    outsiders = [await emu.create_user(f"Out{i}") for i in range(2)]
    for user in subscribed:
        await emu.set_member(channel.id, user.id, "member")
    await emu.set_member(channel.id, c.bot.id, "administrator")
    chats = await gather_limited(
        32,
        (
            emu.create_chat(
                "supergroup", f"Load {i}", creator_id=admin.id, permissions=GROUP_PERMISSIONS
            )
            for i in range(CHATS)
        ),
    )

    async def populate(chat: Chat) -> None:
        for user in [*subscribed, *outsiders]:
            await emu.set_member(chat.id, user.id, "member")
        await emu.set_member(
            chat.id, c.bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
        )

    await gather_limited(32, (populate(chat) for chat in chats))
    report("4. load", f"world of {CHATS} groups built in {time.monotonic() - started:.1f}s")
    return LoadWorld(admin, channel, chats, subscribed, outsiders)


async def test_connections_stay_within_the_pools_under_load(
    cluster: Cluster, load_world: LoadWorld
) -> None:
    c, lw = cluster, load_world
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    before = await c.metrics()
    c.sampler.reset_window()
    started = time.monotonic()

    # Every group is protected at once (database writes on all instances) ...
    await gather_limited(
        64,
        (
            c.emu.send_message(chat.id, lw.admin.id, f"/protect @{lw.channel.username}")
            for chat in lw.chats
        ),
    )

    async def all_protected() -> bool:
        confirmed = {
            r.params["chat_id"]
            for r in await calls(c, "sendMessage", since)
            if PROTECTED in str(r.params.get("text", ""))
        }
        return len(confirmed) == len(lw.chats)

    await wait_until(
        all_protected,
        timeout=SETTLE_TIMEOUT,
        message="not every group was protected",
        interval=0.25,
        watch=[i.proc for i in c.instances],
    )
    protected_in = time.monotonic() - started

    # ... then 2,000 messages round-robin over the 200 groups: message k of a group comes
    # from user k % 7, so each outsider posts once per group (and is muted there).
    users = [*lw.subscribed, *lw.outsiders]
    plan = [(lw.chats[i % CHATS], users[(i // CHATS) % len(users)]) for i in range(MESSAGES)]
    load_started = time.monotonic()
    sent = await gather_limited(
        64,
        (c.emu.send_message(chat.id, user.id, f"msg {i}") for i, (chat, user) in enumerate(plan)),
    )
    sent_in = time.monotonic() - load_started
    await settle(c, timeout=150)
    load_seconds = time.monotonic() - load_started
    peak = c.sampler.window_peak
    after = await c.metrics()

    assert c.sampler.samples > 10, "pg_stat_activity was hardly sampled"
    assert 0 < peak <= c.connection_limit, (
        f"peak {peak} connections of this run's instances, limit {c.connection_limit}"
    )
    ids = update_ids_of(await c.emu.updates(bot_id=c.bot.id), first_update)
    await assert_all_answered(c, ids)
    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    muted, deleted = mutes(records), deletes(records)
    outsider_ids = {u.id for u in lw.outsiders}
    outsider_messages = sum(1 for _chat, user in plan if user.id in outsider_ids)
    for (chat, user), message in zip(plan, sent, strict=True):
        key = (chat.id, message["message_id"])
        if user.id in outsider_ids:
            assert deleted[key] == 1, f"outsider message {key} deleted {deleted[key]}x"
            assert muted[(chat.id, user.id)] == 1
        else:
            assert deleted[key] == 0, f"subscriber message {key} deleted"

    work = {
        i.instance_id: handled(after[i.instance_id]) - handled(before[i.instance_id])
        for i in c.instances
    }
    total = sum(work.values())
    assert all(n > 0 for n in work.values()), f"an instance took no part: {work}"
    share = ", ".join(f"{k}: {100 * v / total:.0f}%" for k, v in work.items())
    report(
        "4. load",
        f"{CHATS} /protect + {MESSAGES} messages ({len(ids)} updates) in {load_seconds:.1f}s "
        f"(protect phase {protected_in:.1f}s, messages sent in {sent_in:.1f}s, "
        f"{len(ids) / (protected_in + load_seconds):.0f} updates/s overall)",
    )
    report("4. load", f"share of the load: {share}")
    report(
        "4. load",
        f"peak PostgreSQL connections during the load: {peak} / limit {c.connection_limit}; "
        f"{outsider_messages} outsider messages: each deleted once, its sender muted once; "
        f"{len(plan) - outsider_messages} subscriber messages left alone",
    )


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
    cluster: Cluster, load_world: LoadWorld, redis_url: str
) -> None:
    c, lw = cluster, load_world
    victim = c.instances[1]
    chats = lw.chats[:40]
    emu = c.emu
    # Fresh outsiders, three in each of 40 protected groups.
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
        uid = message_update_of(list(updates.values()), chat.id, message["message_id"])["update_id"]
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
            times_muted, times_prompted = muted[(chat.id, user.id)], prompted[(chat.id, user.id)]
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
    deliveries = [d for d in await emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in ids]
    failed = Counter(d.error or str(d.status) for d in deliveries if not d.ok)
    report(
        "5. SIGKILL under load",
        f"{victim.instance_id} killed after {sent_at_kill}/{len(plan)} messages were sent, holding "
        f"{len(orphaned)} update claims; all {len(ids)} updates answered 2xx "
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
        elif r.params.get("chat_id") == key[0] and r.method in (
            "restrictChatMember",
            "sendMessage",
        ):
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
