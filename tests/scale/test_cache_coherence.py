"""Cache coherence: what one instance learnt about a member (in Redis) spares the others the
Bot API call.

The member's first message reaches one instance with nothing cached: it queues a look-up,
which some instance's worker makes (getChatMember, once) and caches. Their next messages
reach the two other instances, which pass them straight from the shared cache: no look-up
queued, no Bot API call.
"""

from __future__ import annotations

from typing import Any

from tests.scale.journal import (
    calls,
    delete_calls,
    journal_mark,
    message_update_of,
    present,
    settle,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.metrics import Samples
from tests.scale.processes import wait_until
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import make_world, protect

pytestmark = WEBHOOK_CLUSTER


async def test_a_verification_cached_by_one_instance_serves_the_others(cluster: Cluster) -> None:
    c = cluster
    a, b, cc = c.instances
    w = await make_world(c.emu, c.bot, members=1, strangers=0)
    await protect(c, w)
    await settle(c)
    member, g = w.members[0], w.group.id
    since = await journal_mark(c)
    before = await c.metrics()

    async def member_checks() -> list[Any]:
        return [
            r
            for r in await calls(c, "getChatMember", since)
            if r.params.get("user_id") == member.id
        ]

    async def post(inst: Any, text: str) -> dict[str, Any]:
        message = await c.emu.send_message(g, member.id, text)
        entry = message_update_of(await c.emu.updates(bot_id=c.bot.id), g, message["message_id"])
        assert await c.post_direct(inst, entry["update"]) == (200, {"ok": True})
        return message

    await c.emu.pause_delivery()
    try:
        first = await post(a, "hello 0")

        async def looked_up() -> bool:
            return bool(await member_checks()) and await c.outbox.backlog() == 0

        await wait_until(
            looked_up,
            timeout=20,
            message="no worker looked the member up",
            watch=[i.proc for i in c.instances],
        )
        later = [await post(inst, f"hello {n}") for n, inst in ((1, b), (2, cc))]
    finally:
        await c.emu.resume_delivery()
    await settle(c)
    after = await c.metrics()

    checks = await member_checks()
    assert len(checks) == 1, f"getChatMember for the member: {len(checks)} calls"
    assert checks[0].params["chat_id"] in (w.channel.id, f"@{w.channel.username}")

    def delta(inst: Any, name: str, **labels: str) -> float:
        mine: Samples = after[inst.instance_id]
        return mine.total(name, **labels) - before[inst.instance_id].total(name, **labels)

    gcm = {
        i.instance_id: delta(i, "bot_api_calls_total", method="getChatMember") for i in c.instances
    }
    assert sum(gcm.values()) == 1, gcm  # made by whichever worker took A's queued check
    assert delta(a, "bot_updates_total", outcome="queued") >= 1, "A did not queue the look-up"
    for inst in (b, cc):
        # Handled there (not merely acknowledged), and passed from the shared cache.
        passed = delta(inst, "bot_updates_total", outcome="passed")
        queued = delta(inst, "bot_updates_total", outcome="queued")
        assert passed >= 1, f"{inst.instance_id} passed nothing ({passed})"
        assert queued == 0, f"{inst.instance_id} queued a look-up of its own ({queued})"
    for message in [first, *later]:
        assert await present(c.emu, g, message["message_id"])
    records = await c.emu.requests(bot_id=c.bot.id, since=since)
    assert [r for r in delete_calls(records) if r.params.get("chat_id") == g] == []
    looker = next(k for k, n in gcm.items() if n)
    report(
        "2. cache coherence",
        f"{a.instance_id} queued the look-up, {looker}'s worker made it (getChatMember x1); "
        f"{b.instance_id} and {cc.instance_id} passed the member's next messages from the "
        f"shared cache: getChatMember per instance {gcm}",
    )
