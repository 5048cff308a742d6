"""Cache coherence: what one instance learnt about a member (in Redis) spares the others the
Bot API call."""

from __future__ import annotations

from typing import Any

from tests.scale.journal import (
    calls,
    journal_mark,
    message_update_of,
    present,
    settle,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.metrics import handled
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
