"""The stores going away under traffic: Redis stopped and brought back empty (a Redis
without persistence that crashed: every claim, cache, outbox stream and limiter state gone),
and PostgreSQL stopped for several seconds (its data kept).

While a store is away the webhook must not acknowledge what it could not decide and
record (Telegram delivers it again); afterwards the instances must be ready again without
a restart, and everything posted in the meantime acted on once.
"""

from __future__ import annotations

import time

from tests.faults.cluster import FaultCluster
from tests.faults.marks import FAULTS
from tests.faults.scenario import Scenario, begin
from tests.scale.journal import prompts
from tests.scale.processes import wait_until

pytestmark = FAULTS

REDIS_DOWN = 4.0
HOLD = 3  # retry_after of the 429 that keeps work waiting in the outbox
POSTGRES_DOWN = 5.0
# How long the emulator holds the prompt's sendMessage back: long enough to stop Redis
# while it is on its way, well inside the gateway's call timeout (CALL_TIMEOUT).
PROMPT_LATENCY = 1.5


async def test_redis_restart_empty(cluster: FaultCluster) -> None:
    c = cluster
    s = await begin(
        c,
        "redis_restart_empty",
        f"Redis stopped (SIGTERM, no persistence) for {REDIS_DOWN:.0f}s with traffic flowing "
        f"and outbox work waiting (a {HOLD}s 429 hold), then started again empty on the same "
        "port",
    )
    # Mid-stream: decided work is waiting in the outbox when Redis goes (one 429 holds
    # every write back), as it is whenever the bot is busy.
    since = time.time()
    await c.emu.add_fault("deleteMessages", retry_after=HOLD, times=1)
    await s.round("before", s.early)
    await c.wait_for_write_hold(since, at_least=1.0)
    backlog = await c.outbox.backlog()
    s.report.notes.append(f"outbox entries waiting when Redis stopped: {backlog}")
    async with s.fault():
        await c.redis.stop()
        await s.rounds("while Redis is down", 3, REDIS_DOWN / 3)
        await c.redis.start()
    await s.round("after")
    await s.finish()


async def test_redis_restart_empty_during_prompt(cluster: FaultCluster) -> None:
    """A prompt is sent; Redis is gone before the instance can record it (its message
    id in the member's slot, its deletion) and comes back empty, without the slot. The
    prompt is on screen: it must not be sent again."""
    c = cluster
    s = await begin(
        c,
        "redis_restart_empty_during_prompt",
        f"Redis stopped (SIGTERM, no persistence) while a prompt's sendMessage was on its "
        f"way (held {PROMPT_LATENCY}s by Telegram), for {REDIS_DOWN:.0f}s with traffic "
        "flowing, then started again empty on the same port",
    )
    since = time.time()
    await c.emu.add_fault("sendMessage", latency=PROMPT_LATENCY, times=1)
    await s.round("before", s.early)

    async def on_its_way() -> bool:
        return any(i.proxy.on_the_way["sendMessage"] for i in c.instances)

    await wait_until(
        on_its_way,
        timeout=30,
        message="no prompt on its way",
        interval=0.01,
        watch=[i.proc for i in c.instances],
    )
    async with s.fault():
        await c.redis.stop()
        await s.rounds("while Redis is down", 2, REDIS_DOWN / 2)
        await c.redis.start()
    s.extra_checks.append(lambda: _held_prompt_answered_late(s, since))
    s.extra_checks.append(lambda: _prompted_at_most_once(s))
    await s.round("after")
    await s.finish()


def _held_prompt_answered_late(s: Scenario, since: float) -> list[str]:
    """The premise: the held prompt was answered once Redis was gone."""
    held = [x for x in s.c.calls() if x.method == "sendMessage" and x.record.at >= since]
    if held and s.fault_began is not None and held[0].answered_at > s.fault_began:
        return []
    return ["the held prompt was answered before Redis stopped: the scenario did not happen"]


def _prompted_at_most_once(s: Scenario) -> list[str]:
    """One live prompt per member: the strangers are muted until they join, so none of
    them may be prompted twice (whichever instance sends the second)."""
    sent = [x.record for x in s.c.calls() if x.record.at >= s.started and x.ok]
    sent = [r for r in sent if s.joined_at is None or r.at < s.joined_at]
    told = prompts(sent)
    group = s.world.group.id
    return [
        f"stranger {u.id} prompted {told[(group, u.id)]} times before joining (expected at most 1)"
        for u in s.world.strangers
        if told[(group, u.id)] > 1
    ]


async def test_postgres_stop(cluster: FaultCluster) -> None:
    c = cluster
    s = await begin(
        c,
        "postgres_stop",
        f"PostgreSQL stopped (pg_ctl stop -m fast: every session cut) for {POSTGRES_DOWN:.0f}s "
        "with traffic flowing, then started again (data kept)",
    )
    await s.round("before", s.early)
    async with s.fault():
        await c.postgres.stop("fast")
        await s.rounds("while PostgreSQL is down", 3, POSTGRES_DOWN / 3)
        await c.postgres.start()
    await s.round("after")
    await s.finish()
