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
from tests.faults.scenario import begin

pytestmark = FAULTS

REDIS_DOWN = 4.0
HOLD = 3  # retry_after of the 429 that keeps work waiting in the outbox
POSTGRES_DOWN = 5.0


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
