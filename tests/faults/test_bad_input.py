"""A barrage of malformed requests and slow (slowloris) connections, straight at one
instance and through nginx, while the group's normal traffic goes on.

Malformed input must never get a 5xx: a 5xx tells Telegram to deliver the same bytes again
for a day. (The one 5xx a sender may legitimately get from the webhook is 503 with
Retry-After, for a well-formed update that cannot be handled now: shutting down, another
instance holding it, a store unavailable. None of those applies to malformed input.)
A slow body must be cut off after BODY_TIMEOUT (408), so slow senders cannot pin the
instance's connections; slow request heads are reported (aiohttp bounds their size, not
their time). Meanwhile the instance under the barrage answers /health at once and every
update of the group is acknowledged, and resident memory stays flat.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict

from tests.faults.barrage import (
    Malformed,
    SlowResult,
    broken_http,
    malformed_requests,
    send_malformed,
    slow_request,
)
from tests.faults.cluster import FaultCluster, FaultInstance
from tests.faults.marks import FAULTS
from tests.faults.scenario import begin
from tests.faults.settings import BODY_TIMEOUT

pytestmark = FAULTS

REPEAT = 3  # each malformed request, per instance and through nginx
SLOW_DIRECT = 60  # slow connections of each mode straight at the target instance
SLOW_NGINX = 15  # ... and through nginx
TRICKLE = 0.25  # seconds between two bytes of a slow sender
GIVE_UP = BODY_TIMEOUT + 4.0  # a slow sender stops (closes) after this long
CUT_OFF_WITHIN = BODY_TIMEOUT + 2.0  # a slow body must be answered or closed by then
HEALTH_WITHIN = 2.0  # /health under the barrage


async def _watch_health(
    c: FaultCluster, inst: FaultInstance, stop: asyncio.Event
) -> list[float | None]:
    """/health latencies every quarter second until `stop` (None: no 200 answer)."""
    seen: list[float | None] = []
    while not stop.is_set() and len(seen) < 400:
        began = time.monotonic()
        status = await c.probe(inst, "/health")
        seen.append(time.monotonic() - began if status == 200 else None)
        await asyncio.sleep(0.25)
    return seen


async def _malformed(
    c: FaultCluster, requests: list[Malformed]
) -> dict[tuple[str, str], Counter[int | str]]:
    statuses: dict[tuple[str, str], Counter[int | str]] = defaultdict(Counter)
    for _ in range(REPEAT):
        for request in requests:
            for inst in c.instances:
                status = await send_malformed(
                    c.session, inst.base_url + "/webhook", c.secret, request
                )
                statuses[("direct", request.name)][status] += 1
            status = await send_malformed(
                c.session, c.public_url + "/webhook", c.secret, request, tls=c.tls
            )
            statuses[("nginx", request.name)][status] += 1
    nginx_port = int(c.public_url.rsplit(":", 1)[1])
    for inst in c.instances:
        statuses[("direct", "broken HTTP")][await broken_http("127.0.0.1", inst.port)] += 1
    statuses[("nginx", "broken HTTP")][await broken_http("127.0.0.1", nginx_port, c.tls)] += 1
    return statuses


def _slow(c: FaultCluster, target: FaultInstance) -> list[tuple[str, asyncio.Task[SlowResult]]]:
    nginx_port = int(c.public_url.rsplit(":", 1)[1])
    tasks = []
    for where, port, tls, count in (
        ("direct", target.port, None, SLOW_DIRECT),
        ("nginx", nginx_port, c.tls, SLOW_NGINX),
    ):
        for mode in ("headers", "body"):
            for _ in range(count):
                coro = slow_request(
                    "127.0.0.1",
                    port,
                    c.secret,
                    mode,
                    interval=TRICKLE,
                    give_up_after=GIVE_UP,
                    tls=tls,
                )
                tasks.append((where, asyncio.create_task(coro)))
    return tasks


def _is_5xx(status: int | str | None) -> bool:
    return isinstance(status, int) and status >= 500


async def test_malformed_and_slowloris(cluster: FaultCluster) -> None:
    c = cluster
    target = c.instances[0]
    ids = itertools.count(2_000_000_000)
    requests = malformed_requests(lambda: next(ids))
    s = await begin(
        c,
        "malformed_and_slowloris",
        f"{REPEAT}x each of {len(requests) + 1} kinds of malformed request at every instance "
        "and through nginx; "
        f"{2 * SLOW_DIRECT} slowloris connections (heads / bodies, a byte every {TRICKLE}s) at "
        f"{target.instance_id} and {2 * SLOW_NGINX} through nginx; normal traffic meanwhile",
    )
    await s.round("before", s.early)
    stop = asyncio.Event()
    async with s.fault():
        slow = _slow(c, target)
        health = asyncio.create_task(_watch_health(c, target, stop))
        traffic = asyncio.create_task(s.rounds("during the barrage", 4, 1.0))
        statuses = await _malformed(c, requests)
        results = [(where, await task) for where, task in slow]
        await traffic
        stop.set()
        latencies = await health
    await s.round("after")

    r, f = s.report, s.report.failures
    for place in ("direct", "nginx"):
        table = "; ".join(
            f"{name} " + ", ".join(f"{k} x{n}" for k, n in seen.items())
            for (where, name), seen in sorted(statuses.items())
            if where == place
        )
        r.notes.append(f"malformed, {place}: {table}")
    for (where, name), seen in sorted(statuses.items()):
        if any(_is_5xx(status) for status in seen):
            f.append(f"malformed input answered 5xx ({where}, {name}): {dict(seen)}")
    for where in ("direct", "nginx"):
        for mode in ("headers", "body"):
            mine = [x for w, x in results if w == where and x.mode == mode]
            outcome = Counter(x.status or x.error or "still open when we gave up" for x in mine)
            ended = [x.ended_after for x in mine if x.ended_after is not None]
            span = f"after {min(ended):.1f}-{max(ended):.1f}s" if ended else "never"
            r.notes.append(
                f"slowloris {where} {mode}: {len(mine)} connections; {dict(outcome)}; "
                f"ended by the server: {len(ended)}, {span}"
            )
            f += [
                f"slowloris {where} {mode} answered {x.status}" for x in mine if _is_5xx(x.status)
            ]
            if where == "direct" and mode == "body":
                late = [x for x in mine if x.ended_after is None or x.ended_after > CUT_OFF_WITHIN]
                if late:
                    f.append(
                        f"{len(late)} of {len(mine)} slow bodies sent straight to "
                        f"{target.instance_id} were not cut off within {CUT_OFF_WITHIN:.0f}s "
                        f"(BODY_TIMEOUT {BODY_TIMEOUT:.0f}s): {dict(outcome)}"
                    )
    slow_health = [x for x in latencies if x is None or x > HEALTH_WITHIN]
    r.notes.append(
        f"/health on {target.instance_id} during the barrage: {len(latencies)} probes, "
        f"slowest {max((x for x in latencies if x is not None), default=0):.3f}s"
    )
    if slow_health:
        f.append(
            f"{len(slow_health)} /health probes on {target.instance_id} took over "
            f"{HEALTH_WITHIN:.0f}s or failed during the barrage"
        )
    await s.finish()
