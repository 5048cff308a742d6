"""Instances coming and going: a rolling restart of every instance while traffic flows, and
an instance frozen (SIGSTOP) while it holds work, past every lease, then resumed.

The frozen instance is made to hold work the way crash.py's killed one is: one 429 on a
deletion makes the fleet's rate limiter (in Redis) hold every write back for its
retry_after, so whatever an instance took from the outbox meanwhile waits unsent, and an
admin's /status waits in its webhook request for the reply it may send. The instance
holding that update's lease is frozen then. The others take the update over once its lease
runs out (UPDATE_LEASE) and its outbox entries once its claims lapse (OUTBOX_CLAIM_AFTER).
When it is resumed it must not act on any of that work any more (its own proxy shows every
call it makes), and /status is answered once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.faults import checks
from tests.faults.cluster import FaultCluster
from tests.faults.marks import FAULTS
from tests.faults.proxy import Call
from tests.faults.scenario import Scenario, begin
from tests.faults.settings import OUTBOX_CLAIM_AFTER, UPDATE_LEASE
from tests.scale.journal import last_update_id
from tests.scale.processes import wait_until

pytestmark = FAULTS

ROUND_EVERY = 1.0  # seconds between rounds of traffic during a rolling restart
MAX_ROUNDS = 40  # bounds the traffic however long the restarts take
HOLD = 5  # the 429's retry_after: how long the fleet's writes are held back
STOPPED_FOR = max(UPDATE_LEASE, OUTBOX_CLAIM_AFTER) + 4.0  # past both, with room to take over


async def _chatter_until(s: Scenario, done: asyncio.Event) -> None:
    for n in range(MAX_ROUNDS):
        if done.is_set():
            return
        await s.round(f"during {n}")
        await asyncio.sleep(ROUND_EVERY)


async def test_rolling_restart(cluster: FaultCluster) -> None:
    c = cluster
    s = await begin(
        c,
        "rolling_restart",
        f"each of the {len(c.instances)} instances in turn: SIGTERM, wait for its exit, "
        "start, wait until ready; traffic throughout",
    )
    s.rss_checked = False  # every process is new at the end: RSS is reported, not compared
    await s.round("before", s.early)
    done = asyncio.Event()
    traffic = asyncio.create_task(_chatter_until(s, done))
    exits: dict[str, int | None] = {}
    took: dict[str, float] = {}
    try:
        async with s.fault():
            for inst in c.instances:
                began = time.monotonic()
                exits[inst.instance_id] = await c.stop_gracefully(inst)
                inst.restarts += 1
                await c.start(inst)
                await c.wait_ready(inst)
                took[inst.instance_id] = time.monotonic() - began
    finally:
        done.set()
        await traffic
    s.report.notes.append(
        "exit codes on SIGTERM: "
        + ", ".join(
            f"{iid} {code} (back in {took.get(iid, 0):.1f}s)" for iid, code in exits.items()
        )
    )
    s.report.failures += [
        f"{iid} exited with {code} on SIGTERM (0 expected: a graceful drain)"
        for iid, code in exits.items()
        if code != 0
    ]
    await s.round("after")
    await s.finish()


def _replies_to(records: list[Call], message_id: int) -> list[Call]:
    """Successful sendMessage calls answering the message `message_id`."""
    out = []
    for x in records:
        p = x.record.params
        reply = p.get("reply_parameters") or {}
        target = reply.get("message_id") if isinstance(reply, dict) else None
        if (
            x.method == "sendMessage"
            and x.ok
            and message_id in (target, p.get("reply_to_message_id"))
        ):
            out.append(x)
    return out


async def test_sigstop_past_lease(cluster: FaultCluster) -> None:
    c = cluster
    s = await begin(
        c,
        "sigstop_past_lease",
        f"during a {HOLD}s 429 hold of the fleet's writes, the instance handling an admin's "
        f"/status (its reply held back) is SIGSTOPped with its update lease and outbox work "
        f"for {STOPPED_FOR:.0f}s (UPDATE_LEASE {UPDATE_LEASE:.0f}s, OUTBOX_CLAIM_AFTER "
        f"{OUTBOX_CLAIM_AFTER:.0f}s), then SIGCONTed",
    )
    since = time.time()
    await c.emu.add_fault("deleteMessages", retry_after=HOLD, times=1)
    # Everyone writes: the more work is out when the writes are held, the more is frozen.
    await s.round("before")
    await s.round("before, again")
    async with s.fault():
        await c.wait_for_write_hold(since, at_least=3.0)
        command = await c.emu.send_message(s.world.group.id, s.world.admin.id, "/status")
        update_id = await last_update_id(c)  # type: ignore[arg-type]
        holder = await wait_until(
            lambda: c.outbox.lease_holder(update_id),
            timeout=10,
            message="nobody took the /status update's lease",
            interval=0.01,
        )
        victim = c.instance(holder)
        c.suspend(victim)
        stopped_at = time.time()
        held = [h for h in await c.outbox.held() if h.consumer == victim.instance_id]
        s.report.notes.append(
            f"froze {victim.instance_id} (pid {victim.pid}) holding the lease of update "
            f"{update_id} (/status) and outbox entries: "
            + (", ".join(f"{n} {k}" for k, n in Counter(h.kind for h in held).items()) or "none")
        )
        await s.rounds("while frozen", 3, STOPPED_FOR / 4)
        await asyncio.sleep(max(0.0, stopped_at + STOPPED_FOR - time.time()))
        c.resume(victim)
    await c.emu.clear_faults()

    def once_and_not_by_the_stale_holder() -> list[str]:
        calls = c.calls()
        replies = _replies_to(calls, int(command["message_id"]))
        who = [f"{x.record.via} at {x.record.at:.3f}" for x in replies]
        failures = checks.calls_after_takeover(victim.instance_id, calls, stopped_at)
        if len(replies) != 1:
            failures.append(f"/status answered {len(replies)} times (expected 1): {who}")
        return failures

    s.extra_checks.append(once_and_not_by_the_stale_holder)
    await s.round("after")
    await s.finish()
