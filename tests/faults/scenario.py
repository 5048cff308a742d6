"""One scenario's traffic, and its verdict from the Bot API call log.

A scenario builds its own protected group (a channel linked with /protect, raid mode off),
with subscribed members chatting and strangers (in the group, not in the channel) posting
before, during and after the fault. Once the fault is over and the bot has caught up, the
strangers join the channel; the bot must unmute them, and their next messages must stand.

Then, from the emulator's journal and deliveries and from each instance's own proxy:
every update acknowledged; every gated message deleted exactly once; every stranger muted
exactly once and unmuted after joining; no member's message or member touched; no
state-changing call by a process that no longer owned the work; every instance healthy
and ready; resident memory flat (for processes that lived through the scenario).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bot_api_emulator import EmulatorError, User
from tests.faults import checks
from tests.faults.cluster import FaultCluster
from tests.faults.report import REPORT_PATH, ScenarioReport, file_report
from tests.faults.settings import RAID_MODE, RECONCILE_AFTER
from tests.scale.journal import deleted_ids, deletes, last_update_id, mutes, prompts, settle
from tests.scale.processes import wait_until
from tests.scale.world import World, make_world, protect

MEMBERS = 2
STRANGERS = 3
EARLY_STRANGERS = 1
# Once drained, until every gated message is gone and every stranger muted: long enough
# for the mute reconciler's repair (RECONCILE_AFTER, then its next sweep).
RECOVERY_TIMEOUT = RECONCILE_AFTER + 10.0
UNMUTE_TIMEOUT = 30.0
SETTLE_TIMEOUT = 30.0
# Resident memory may grow this much over one scenario (why: tests/faults/__init__.py).
RSS_TOLERANCE_KIB = 10 * 1024
TIMELINES = REPORT_PATH.parent / "faults-timelines"


@dataclass
class Post:
    sender: User
    message_id: int
    gated: bool  # a stranger's message, posted before joining the channel


@dataclass
class Scenario:
    c: FaultCluster
    report: ScenarioReport
    world: World
    journal_since: int
    update_since: int
    started: float
    rss_before: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    refused: int = 0
    fault_began: float | None = None
    fault_ended: float | None = None
    joined_at: float | None = None
    rss_checked: bool = True
    # Scenario-specific checks, run with the others once everything has settled.
    extra_checks: list[Callable[[], list[str]]] = field(default_factory=list)

    # ----- traffic --------------------------------------------------------------------------

    async def post(self, user: User, text: str, *, gated: bool) -> Post | None:
        """`user` writes in the group; None when Telegram refuses it (they are muted)."""
        try:
            message = await self.c.emu.send_message(self.world.group.id, user.id, text)
        except EmulatorError as exc:
            if exc.status != 403:
                raise
            self.refused += 1
            return None
        post = Post(user, int(message["message_id"]), gated)
        self.posts.append(post)
        return post

    @property
    def early(self) -> list[User]:
        """The strangers who already write before the fault; the others' first messages
        come while it lasts, so the fault meets the gate's decisions as well as its acts."""
        return self.world.strangers[:EARLY_STRANGERS]

    async def round(self, label: str, strangers: list[User] | None = None) -> None:
        """Every member and every stranger (or those given) writes once."""
        for user in self.world.members:
            await self.post(user, f"{label}: hello from {user.first_name}", gated=False)
        for user in self.world.strangers if strangers is None else strangers:
            await self.post(user, f"{label}: buy followers from {user.first_name}", gated=True)

    async def rounds(self, label: str, count: int, interval: float) -> None:
        for n in range(count):
            await self.round(f"{label} {n}")
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def fault(self) -> AsyncIterator[None]:
        """Marks the fault window (epoch seconds, the journal's clock)."""
        self.fault_began = time.time()
        try:
            yield
        finally:
            self.fault_ended = time.time()

    # ----- the end of a scenario ------------------------------------------------------------

    async def finish(self) -> None:
        """Wait for the bot to catch up, let the strangers join, check, report, assert."""
        r = self.report
        end = self.fault_ended or time.time()
        if await self._wait("nothing pending (updates and outbox)", self._settled, SETTLE_TIMEOUT):
            r.drained = time.time() - end
        await self._wait(
            "every gated message deleted and every stranger muted",
            self._gated_done,
            RECOVERY_TIMEOUT,
        )
        self.joined_at = time.time()
        for user in self.world.strangers:
            await self.c.emu.join_chat(self.world.channel.id, user.id)
        if await self._wait("every stranger unmuted after joining", self._unmuted, UNMUTE_TIMEOUT):
            for user in self.world.strangers:
                if await self.post(user, f"joined: hello from {user.first_name}", gated=False):
                    continue
                r.failures.append(f"{user.id} was refused a message after being unmuted")
        await self._wait("nothing pending after the joins", self._settled, SETTLE_TIMEOUT)
        await self._verdict()
        r.duration = time.time() - self.started
        assert not r.failures, f"{r.name}:\n  " + "\n  ".join(r.failures)

    async def _wait(self, what: str, probe: Any, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await wait_until(
                probe,
                timeout=timeout,
                message=what,
                interval=0.2,
                watch=[i.proc for i in self.c.instances],
            )
        except (TimeoutError, RuntimeError) as exc:
            self.report.failures.append(f"not reached: {exc}")
            return False
        return True

    async def _gated_done(self) -> bool:
        log = {m.message_id: m for m in await self.c.emu.message_log(self.world.group.id)}
        for post in self.posts:
            if post.gated and log.get(post.message_id) and log[post.message_id].deleted_at is None:
                return False
        for user in self.world.strangers:
            member = await self.c.emu.member(self.world.group.id, user.id)
            if member["status"] != "restricted" or member.get("can_send_messages"):
                return False
        return True

    async def _unmuted(self) -> bool:
        for user in self.world.strangers:
            member = await self.c.emu.member(self.world.group.id, user.id)
            if member["status"] == "restricted" and not member.get("can_send_messages"):
                return False
        return True

    async def _settled(self) -> bool:
        """No update pending or in flight, nothing in the outbox (as journal.settle asks),
        and no Bot API call on its way: a call the instance gave up on may still be carried
        out, and is in the log only once answered."""
        if any(i.proxy.in_flight for i in self.c.instances):
            return False

        async def emulator_idle() -> bool:
            bot = (await self.c.emu.stats())["bots"][str(self.c.bot.id)]
            return bool(bot["pending"] == 0 and bot["in_flight"] == 0)

        return (
            await emulator_idle() and await self.c.outbox.backlog() == 0 and await emulator_idle()
        )

    # ----- the verdict ----------------------------------------------------------------------

    async def _verdict(self) -> None:
        c, r, w = self.c, self.report, self.world
        group = w.group.id
        records = await c.emu.requests(bot_id=c.bot.id, since=self.journal_since)
        updates = [
            u for u in await c.emu.updates(bot_id=c.bot.id) if u["update_id"] > self.update_since
        ]
        ids = {u["update_id"] for u in updates}
        deliveries = [
            d for d in await c.emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in ids
        ]
        log = await c.emu.message_log(group)
        # This scenario's calls: about its own chats, or about none (getMe, setWebhook).
        # Earlier scenarios' leftovers (a restarted instance's janitor) are counted apart.
        mine = {w.group.id, w.channel.id, None}
        since_start = [x for x in c.calls() if x.record.at >= self.started]
        calls = [x for x in since_start if x.record.params.get("chat_id") in mine]
        others = Counter(
            x.method for x in since_start if x.record.params.get("chat_id") not in mine
        )
        if others:
            r.notes.append(f"calls about earlier scenarios' chats (not checked): {dict(others)}")

        gated = [p.message_id for p in self.posts if p.gated]
        members_posts = [p.message_id for p in self.posts if not p.gated]
        r.updates, r.attempts, r.gated, r.refused_posts = (
            len(ids),
            len(deliveries),
            len(gated),
            self.refused,
        )
        r.attempts_by_outcome = Counter(
            "2xx" if d.ok else str(d.status or d.error) for d in deliveries
        )
        for x in calls:
            r.count_call(x.method, x.ok, x.record.status)
            r.calls_by_instance[x.record.via] += 1
        r.recovery = self._recovery(records, gated)
        self._write_timeline(calls, deliveries)

        f = r.failures
        f += checks.unacknowledged(ids, deliveries)
        deleted, failed_attempts = checks.deleted_once(records, group, gated)
        f += deleted
        f += checks.still_visible(log, gated)
        if failed_attempts:
            shown = ", ".join(f"{n} x {status}" for status, n in sorted(failed_attempts.items()))
            r.notes.append(f"failed delete attempts naming gated messages, by status: {shown}")
        before_join = [x for x in records if self.joined_at is None or x.at < self.joined_at]
        f += checks.muted_once(records, group, w.strangers)
        if self.joined_at is not None:
            f += checks.unmuted_after(records, group, w.strangers, self.joined_at)
        # Members' messages, and the strangers' own once they had joined.
        f += checks.untouched(records, log, group, w.members, members_posts)
        repeats: list[str] = []
        f += checks.stale_owner_calls(calls, refused=repeats)
        if repeats:
            r.notes.append(
                f"retries of work a lost-answer call had done, refused by Telegram: "
                f"{len(repeats)} (first: {repeats[0]})"
            )
        for extra in self.extra_checks:
            f += extra()
        f += await self._health()
        f += self._rss()
        told = prompts([x for x in before_join if x.ok])
        r.notes.append(
            f"mutes before joining: {sum(mutes(before_join).values())}; "
            f"successful deletions: {sum(deletes(records).values())}; prompts per stranger "
            f"(not asserted): {[told[(group, u.id)] for u in w.strangers]}"
        )

    def _write_timeline(self, calls: list[Any], deliveries: list[Any]) -> None:
        """Every Bot API call (by instance) and delivery attempt, in order, seconds from the
        scenario's start: the artifact to read when a scenario fails."""
        t0 = self.started
        rows = [
            (x.record.at, f"{x.record.at - t0:8.3f} -> {x.answered_at - t0:8.3f}  {x.record.via} "
             f"pid {x.pid}  {x.method} {checks.work_items(x.record)} status {x.record.status}")
            for x in calls
        ] + [
            (d.at, f"{d.at - t0:8.3f}  delivery update {d.update_id} attempt {d.attempt} "
             f"status {d.status} {d.error or ''} in {d.duration:.3f}s")
            for d in deliveries
        ]  # fmt: skip
        marks = [(self.fault_began, "fault begins"), (self.fault_ended, "fault ends"),
                 (self.joined_at, "strangers join the channel")]  # fmt: skip
        rows += [(at, f"{at - t0:8.3f}  ---- {what}") for at, what in marks if at is not None]
        TIMELINES.mkdir(parents=True, exist_ok=True)
        path = TIMELINES / f"{self.report.name}.txt"
        path.write_text("\n".join(line for _at, line in sorted(rows)) + "\n")
        self.report.notes.append(f"timeline: {path}")

    def _recovery(self, records: list[Any], gated: list[int]) -> float | None:
        """Fault end -> the last successful deletion of a gated message or mute of a stranger
        (before the joins); 0 when all of it was done within the fault window."""
        if self.fault_ended is None:
            return None
        stranger_ids = {u.id for u in self.world.strangers}
        wanted = set(gated)
        last = 0.0
        for x in records:
            if not x.ok or (self.joined_at is not None and x.at >= self.joined_at):
                continue
            if wanted & set(deleted_ids(x)) or (
                x.method == "restrictChatMember" and x.params.get("user_id") in stranger_ids
            ):
                last = max(last, x.at)
        return max(0.0, last - self.fault_ended) if last else None

    async def _health(self) -> list[str]:
        failures = []
        for inst in self.c.instances:
            health = await self.c.probe(inst, "/health")
            ready = await self.c.probe(inst, "/ready")
            if health != 200 or ready != 200:
                failures.append(f"{inst.instance_id}: /health {health}, /ready {ready} at the end")
        return failures

    def _rss(self) -> list[str]:
        failures = []
        for inst in self.c.instances:
            pid_before, before = self.rss_before.get(inst.instance_id, (None, None))
            after = inst.rss_kib()
            same = pid_before is not None and pid_before == inst.pid
            self.report.rss[inst.instance_id] = (before, after, same)
            if not (self.rss_checked and same and before and after):
                continue
            if after - before > RSS_TOLERANCE_KIB:
                failures.append(
                    f"{inst.instance_id}: resident memory grew {(after - before) / 1024:.1f} MiB "
                    f"({before / 1024:.1f} -> {after / 1024:.1f}), more than "
                    f"{RSS_TOLERANCE_KIB / 1024:.0f} MiB"
                )
        return failures


async def begin(c: FaultCluster, name: str, fault: str) -> Scenario:
    """A fresh protected group; its members known to the bot; the marks the verdict reads
    from; every instance's resident memory."""
    started = time.time()
    report = file_report(ScenarioReport(name, fault))
    world = await make_world(c.emu, c.bot, members=MEMBERS, strangers=STRANGERS)
    await protect(c, world, raid=RAID_MODE)  # type: ignore[arg-type]
    s = Scenario(c, report, world, 0, 0, started)
    for user in world.members:
        await s.post(user, "before: first words", gated=False)
    await settle(c, timeout=SETTLE_TIMEOUT)  # type: ignore[arg-type]
    records = await c.emu.requests(bot_id=c.bot.id, since=0)
    s.journal_since = records[-1].seq if records else 0
    s.update_since = await last_update_id(c)  # type: ignore[arg-type]
    s.started = time.time()
    s.rss_before = {i.instance_id: (i.pid, i.rss_kib()) for i in c.instances}
    return s
