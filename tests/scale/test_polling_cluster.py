"""Three instances in long-polling mode: only the holder of the leader lease polls, and when
it dies (SIGKILL) another takes over within a few seconds and updates keep being handled.

Which instance polls is read from a counting proxy in front of each instance's Bot API
connection (the emulator's journal cannot tell instances apart: they share the token).
"""

from __future__ import annotations

import asyncio
import time

from bot_api_emulator import RequestRecord
from tests.scale.journal import PROTECTED
from tests.scale.marks import POLLING_CLUSTER
from tests.scale.polling_cluster import PollingCluster
from tests.scale.processes import wait_until
from tests.scale.settings import INSTANCE_SETTINGS
from tests.scale.summary import report
from tests.scale.world import make_world

pytestmark = POLLING_CLUSTER

LEASE = float(INSTANCE_SETTINGS["LEADER_LEASE"])
WINDOW = 2 * LEASE  # long enough for every instance to try the lease a few times
HANDOVER_LIMIT = LEASE + 3.0  # "within a few seconds"


async def pollers(c: PollingCluster, alive: list[str]) -> dict[str, int]:
    """getUpdates requests of each live instance open during one observation window."""
    start = time.monotonic()
    await asyncio.sleep(WINDOW)
    end = time.monotonic()
    return {
        i.instance_id: i.proxy.polled_between(start, end)
        for i in c.instances
        if i.instance_id in alive
    }


def gated(records: list[RequestRecord], chat_id: int, user_id: int) -> int:
    return sum(
        1
        for r in records
        if r.method == "restrictChatMember"
        and r.params.get("chat_id") == chat_id
        and r.params.get("user_id") == user_id
        and r.params.get("permissions", {}).get("can_send_messages") is False
    )


async def gate_one(c: PollingCluster, chat_id: int, user_id: int, since: int) -> int:
    """Post as `user_id`; return how often the bot muted them once it has."""
    message = await c.emu.send_message(chat_id, user_id, "spam")

    async def muted() -> bool:
        records = await c.emu.requests("restrictChatMember", bot_id=c.bot.id, since=since)
        gone = all(m["message_id"] != message["message_id"] for m in await c.emu.messages(chat_id))
        return gone and gated(records, chat_id, user_id) >= 1

    await wait_until(muted, timeout=20, message=f"user {user_id} was not gated", interval=0.1)
    await asyncio.sleep(1.0)  # room for a second, duplicate handling to show
    records = await c.emu.requests("restrictChatMember", bot_id=c.bot.id, since=since)
    return gated(records, chat_id, user_id)


async def test_only_the_leader_polls_and_a_successor_takes_over(
    polling_cluster: PollingCluster,
) -> None:
    c = polling_cluster
    ids = [i.instance_id for i in c.instances]
    w = await make_world(c.emu, c.bot, members=1, strangers=2)
    first = await pollers(c, ids)
    report("6. polling", f"getUpdates per instance over {WINDOW:.0f}s: {first}")
    active = [k for k, n in first.items() if n > 0]
    assert len(active) == 1, f"{len(active)} instances poll at once: {first}"
    leader = next(i for i in c.instances if i.instance_id == active[0])

    since = (await c.emu.requests(bot_id=c.bot.id))[-1].seq
    command = await c.emu.send_message(w.group.id, w.admin.id, f"/protect @{w.channel.username}")

    async def protected() -> bool:
        return any(
            m["message_id"] > command["message_id"] and PROTECTED in str(m.get("text", ""))
            for m in await c.emu.messages(w.group.id)
        )

    await wait_until(protected, timeout=20, message="/protect was not answered", interval=0.1)
    assert await gate_one(c, w.group.id, w.strangers[0].id, since) == 1

    # The leader dies without a word; another instance must take the lease and poll.
    polls_at_kill = c.polls()
    await leader.proc.kill()
    killed = time.monotonic()
    survivors = [k for k in ids if k != leader.instance_id]

    async def successor() -> str | None:
        now = c.polls()
        return next((k for k in survivors if now[k] > polls_at_kill[k]), None)

    new_leader = await wait_until(
        successor, timeout=HANDOVER_LIMIT + 10, message="nobody took over", interval=0.05
    )
    handover = time.monotonic() - killed
    after = await pollers(c, survivors)
    report(
        "6. polling",
        f"{leader.instance_id} killed; {new_leader} polled {handover:.1f}s later "
        f"(limit {HANDOVER_LIMIT:.0f}s); then getUpdates per survivor: {after}",
    )
    assert handover <= HANDOVER_LIMIT
    assert [k for k, n in after.items() if n > 0] == [new_leader], after

    since = (await c.emu.requests(bot_id=c.bot.id))[-1].seq
    assert await gate_one(c, w.group.id, w.strangers[1].id, since) == 1
    hello = await c.emu.send_message(w.group.id, w.members[0].id, "still here")
    await asyncio.sleep(1.0)
    assert any(m["message_id"] == hello["message_id"] for m in await c.emu.messages(w.group.id))
