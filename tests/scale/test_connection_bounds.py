"""Bounded connections under load, shared by every instance: 200 groups protected at once,
then 2,000 messages; the instances' PostgreSQL connections never exceed their pools
(DB_POOL_SIZE + DB_MAX_OVERFLOW each), nor their Redis connections REDIS_MAX_CONNECTIONS
each (the outbox lanes park OUTBOX_LANES of those in blocking reads; the webhook, the
caches and the rate limiter share the rest); every outsider's message is deleted once (its
sender muted once), and every instance takes part."""

from __future__ import annotations

import time

from tests.scale.journal import (
    assert_all_answered,
    delete_calls,
    deletes,
    journal_mark,
    last_update_id,
    mutes,
    settle,
    update_ids_of,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.metrics import handled
from tests.scale.settings import OUTBOX_LANES, REDIS_MAX_CONNECTIONS
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import gather_limited, make_load_world, protect_all

pytestmark = WEBHOOK_CLUSTER

CHATS = 200
MESSAGES = 2000


async def test_connections_stay_within_the_pools_under_load(cluster: Cluster) -> None:
    c = cluster
    built = time.monotonic()
    # 5 subscribed users and 2 outsiders in every group.
    lw = await make_load_world(c.emu, c.bot, chats=CHATS)
    report("4. load", f"world of {CHATS} groups built in {time.monotonic() - built:.1f}s")
    await settle(c)
    since, first_update = await journal_mark(c), await last_update_id(c)
    before = await c.metrics()
    c.sampler.reset_window()
    c.redis_sampler.reset_window()
    started = time.monotonic()

    # Every group is protected at once (database writes on all instances) ...
    await protect_all(c, lw)
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
    redis_peaks = dict(c.redis_sampler.window_peak_by_instance)
    after = await c.metrics()

    assert c.sampler.window_samples > 10, "pg_stat_activity was hardly sampled"
    assert 0 < peak <= c.connection_limit, (
        f"peak {peak} connections of this run's instances, limit {c.connection_limit}"
    )
    assert c.redis_sampler.window_samples > 10, "CLIENT LIST was hardly sampled"
    assert set(redis_peaks) == {i.instance_id for i in c.instances}, redis_peaks
    for instance_id, n in redis_peaks.items():
        # More than the lanes' parked reads (the rest did work), never more than the pool.
        assert OUTBOX_LANES < n <= REDIS_MAX_CONNECTIONS, (
            f"{instance_id}: peak {n} Redis connections, pool {REDIS_MAX_CONNECTIONS}"
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
    retried = sum(
        after[i.instance_id].total("bot_outbox_actions_total", outcome="retry")
        - before[i.instance_id].total("bot_outbox_actions_total", outcome="retry")
        for i in c.instances
    )
    batches = [
        r for r in delete_calls(records) if r.params.get("chat_id") in {ch.id for ch in lw.chats}
    ]
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
        f"peak Redis connections per instance {redis_peaks} / {REDIS_MAX_CONNECTIONS} each "
        f"({OUTBOX_LANES} parked by the outbox lanes)",
    )
    report(
        "4. load",
        f"{outsider_messages} outsider messages: each deleted once (in {len(batches)} delete "
        f"calls), its sender muted once; {len(plan) - outsider_messages} subscriber messages "
        f"left alone; outbox actions retried (Telegram or Redis unavailable): {int(retried)}",
    )
