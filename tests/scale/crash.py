"""Killing an instance while it holds outbox work that has not reached Telegram yet.

A call already on its way to Telegram when its process dies still lands, so "nothing is
done twice" can only be asked of work the victim had not sent. The tests make such work:
a 429 answered to one write makes the rate limiter (shared in Redis) hold back every write
of the fleet for its retry_after; whatever the victim took meanwhile waits unsent, and it
is killed then. Its entries must then be carried out by the others, once, after the kill.

A deletion the victim had made but not yet settled (its call returned just before the
kill) may be made again by the survivor; `Kill.done_unsettled` names those, so the tests
tell that unavoidable window from any other fault. Each chat's deletions are settled as
soon as their own call returns (test_outbox_cluster), which keeps the window small.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from bot_api_emulator import RequestRecord
from gmbot.telegram.flood import WRITE_METHODS
from tests.scale.journal import deleted_ids
from tests.scale.outbox import HeldEntry
from tests.scale.processes import wait_until
from tests.scale.webhook_cluster import Cluster, Instance

WRITES = ("delete", "mute", "prompt")  # the action kinds whose calls are writes


@dataclass(frozen=True, slots=True)
class Kill:
    victim: Instance
    held: list[HeldEntry]  # the write actions it held when it died
    at: float  # epoch seconds, comparable with the journal's `at`

    def done_unsettled(self, records: list[RequestRecord]) -> set[tuple[int, int]]:
        """(chat, message) of the deletions the victim held although one of its calls had
        already deleted them (successfully, before the kill): done, not settled yet."""
        deleted_before = {
            (r.params["chat_id"], i)
            for r in records
            if r.ok and r.at < self.at
            for i in deleted_ids(r)
        }
        return {
            (h.chat_id, int(h.field("message")))
            for h in self.held
            if h.kind == "delete" and (h.chat_id, int(h.field("message"))) in deleted_before
        }

    def owed(self, records: list[RequestRecord]) -> list[HeldEntry]:
        """The held actions the others must carry out after the kill (all but the
        deletions already done)."""
        done = self.done_unsettled(records)
        return [
            h
            for h in self.held
            if not (h.kind == "delete" and (h.chat_id, int(h.field("message"))) in done)
        ]


# Calls sent just before the hold began are answered within milliseconds; this long after
# the last one, their senders have settled them too (but for the deletion rounds, above).
QUIET = 0.3


async def kill_the_busiest_during_a_hold(c: Cluster, refused_method: str, since: int) -> Kill:
    """Once `refused_method` met its 429 (journal entries after `since`), the fleet's
    writes are held back for at least one more second and none has been answered for
    QUIET seconds, SIGKILL the instance holding the most write actions. What it held is
    read after its death: the entries it left unsettled."""

    async def held_back() -> bool:
        records = await c.emu.requests(bot_id=c.bot.id, since=since)
        refused = any(r.method == refused_method and r.status == 429 for r in records)
        last_write = max((r.at for r in records if r.method in WRITE_METHODS), default=0.0)
        return refused and time.time() - last_write >= QUIET and await c.outbox.hold_left() >= 1.0

    await wait_until(
        held_back,
        timeout=30,
        message=f"no 429 on {refused_method} held the fleet's writes back",
        interval=0.02,
        watch=[i.proc for i in c.instances],
    )
    held = [h for h in await c.outbox.held() if h.kind in WRITES]
    by_consumer = Counter(h.consumer for h in held)
    assert by_consumer, "nobody held any write while the fleet's writes were held back"
    victim = c.instance(by_consumer.most_common(1)[0][0])
    await c.metrics()  # the victim's last numbers
    await victim.proc.kill()
    killed_at = time.time()
    # Read at once: the survivors take these over only after OUTBOX_CLAIM_AFTER.
    left = [
        h for h in await c.outbox.held() if h.kind in WRITES and h.consumer == victim.instance_id
    ]
    return Kill(victim, left, killed_at)


def story(records: list[RequestRecord], entries: list[HeldEntry], kill: Kill) -> str:
    """The journal's calls about each entry's chat and subject, for a failure message."""
    lines = [f"killed {kill.victim.instance_id} at {kill.at:.3f}"]
    for entry in entries:
        lines.append(f"{entry.kind} {entry.key}:")
        subject = {entry.field("user"), entry.field("message")} - {""}
        for r in records:
            if r.params.get("chat_id") != entry.chat_id:
                continue
            mentioned = str(r.params.get("user_id")) in subject or bool(
                subject & {str(i) for i in deleted_ids(r)}
            )
            if mentioned:
                lines.append(f"  {r.method} status={r.status} at={r.at:.3f}")
    return "\n".join(lines)
