"""Database consistency: /protect handled by one instance is enforced by the others on the
very next message, whatever they saw of the group before.

"Enforced" by an instance means it gated the message (queued a look-up of the sender or
recorded the removal) instead of passing it as unprotected; some instance's outbox worker
then deletes it and mutes the sender, once."""

from __future__ import annotations

from typing import Any

from bot_api_emulator import User
from tests.scale.journal import (
    PROTECTED,
    calls,
    deletes,
    journal_mark,
    message_update_of,
    mutes,
    present,
    settle,
)
from tests.scale.marks import WEBHOOK_CLUSTER
from tests.scale.summary import report
from tests.scale.webhook_cluster import Cluster
from tests.scale.world import make_world

pytestmark = WEBHOOK_CLUSTER


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

    def gated(inst: Any) -> float:
        return sum(
            after[inst.instance_id].total("bot_updates_total", outcome=o)
            - before[inst.instance_id].total("bot_updates_total", outcome=o)
            for o in ("queued", "removed")
        )

    enforced = {i.instance_id: gated(i) for i in (b, cc)}
    assert all(n >= 1 for n in enforced.values()), f"messages gated per instance: {enforced}"
    report(
        "3. database consistency",
        f"/protect on {a.instance_id}; the next message on {b.instance_id} and on "
        f"{cc.instance_id} was gated there ({enforced}), then deleted and its sender muted "
        "once by the workers",
    )
