"""The outbox's consumers on this instance: one lane per kind of work.

Lanes are apart so that prompts waiting for a group's message budget never hold back
deletions. The deletion lane works in rounds: while one round's deleteMessages calls
are out it takes no more, so under load the next round is larger and deletions go out
as fewer, fuller calls; while rounds follow each other the lane also gathers for a
fraction of a second before a round, for the same reason (a calm group's one deletion
goes at once). The other lanes keep up to `concurrency` entries in flight and
take a new one as soon as one is done, so one slow look-up or prompt never holds up
the ones behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from gmbot.domain.actions import Action, OutboxEntry, Priority
from gmbot.domain.fencing import Fence
from gmbot.domain.ports import CacheUnavailable, Outbox
from gmbot.services.action_runner import ActionRunner

log = structlog.get_logger(__name__)

KEEP_AT_MOST = 10_000  # entries kept in memory for the outbox's return (bounded)


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    priorities: tuple[Priority, ...]
    batch: int  # entries taken at once (rounds), or kept in flight (continuous)
    gather: float = 0.0  # rounds: seconds to wait for more after a first, small batch
    rounds: bool = False  # carry each batch out whole before taking the next


LANES = (
    Lane("delete", (Priority.DELETE,), batch=500, gather=0.1, rounds=True),
    Lane("mute", (Priority.MUTE,), batch=64),
    Lane("check", (Priority.CHECK,), batch=64),
    Lane("prompt", (Priority.PROMPT, Priority.LOG), batch=32),
)


class OutboxWorkers:
    def __init__(
        self,
        outbox: Outbox,
        runner: ActionRunner,
        consumer: str,
        *,
        lanes: Sequence[Lane] = LANES,
        block_ms: int = 1000,
        error_pause: float = 1.0,
        heartbeat: float = 1.0,
        claim_after: float = 3.0,
    ) -> None:
        """`heartbeat`: how often the entries at work are extended; well inside the
        outbox's claim timeout (`claim_after`), after which another consumer would take
        them over. Work on an entry stops once its claim is older than the timeout less
        a margin (a third of it) without a confirmed extension."""
        self._outbox = outbox
        self._runner = runner
        self._consumer = consumer
        self._lanes = tuple(lanes)
        self._block_ms = block_ms
        self._error_pause = error_pause
        self._heartbeat = heartbeat
        self._claim_after = claim_after
        self._margin = claim_after / 3
        self._stopping = asyncio.Event()
        self._at_work: dict[str, tuple[OutboxEntry, Fence]] = {}
        # Written while the outbox could not be reached, retried at each beat: settles
        # of work done, and actions to record again (maybe lost with Redis).
        self._unsettled: list[OutboxEntry] = []
        self._stranded: dict[str, Action] = {}

    async def run(self) -> None:
        """Run every lane until stop()."""
        beat = asyncio.create_task(self._keep_claims())
        try:
            await asyncio.gather(*(self._lane(lane) for lane in self._lanes))
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    async def drain(self, rounds: int = 100) -> int:
        """Carry out everything the outbox hands this consumer now, highest priority
        first, including what that work records in turn; returns how many entries were
        settled. For tests and the command line: no waiting, no gathering."""
        settled = 0
        await self._catch_up()
        for round_ in range(rounds):
            asked_at = time.monotonic()
            try:
                entries = await self._outbox.take(self._consumer, 500)
            except CacheUnavailable:
                if round_:  # the outbox went away meanwhile: what was done stands
                    break
                raise
            if not entries:
                break
            self._hold(entries, asked_at)
            settled += await self._carry_out(entries)
        return settled

    async def _lane(self, lane: Lane) -> None:
        if lane.rounds:
            await self._rounds(lane)
        else:
            await self._continuous(lane)

    async def _rounds(self, lane: Lane) -> None:
        loop = asyncio.get_running_loop()
        last_round = -math.inf
        while not self._stopping.is_set():
            entries: list[OutboxEntry] = []
            try:
                entries = await self._take(lane, lane.batch, self._block_ms)
                # Gather only while rounds follow each other (a raid): in a calm group
                # the one message to remove goes at once.
                busy = loop.time() - last_round < 2 * lane.gather
                if entries and busy and len(entries) < lane.batch:
                    await self._pause(lane.gather)
                    entries += await self._take(lane, lane.batch - len(entries), 0)
                if entries:
                    await self._carry_out(entries)
                    last_round = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis unreachable, say: the lane must outlive it
                self._lane_failed(lane, exc)
                self._let_go(entries)
                await self._pause(self._error_pause)

    async def _continuous(self, lane: Lane) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                room = lane.batch - len(in_flight)
                if room <= 0:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    entries = await self._take(lane, room, self._block_ms)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._lane_failed(lane, exc)
                    await self._pause(self._error_pause)
                    continue
                for entry in entries:
                    task = asyncio.create_task(self._one(lane, entry))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            # Stopping: what is still out comes back to some consumer after the claim
            # timeout; it was not settled, so nothing is lost.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _one(self, lane: Lane, entry: OutboxEntry) -> None:
        try:
            await self._carry_out([entry])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox_lane_failed", lane=lane.name)

    def _lane_failed(self, lane: Lane, exc: Exception) -> None:
        if isinstance(exc, CacheUnavailable):  # an outage, not a bug: no traceback each time
            log.warning("outbox_unreachable", lane=lane.name, error=str(exc)[:200])
        else:
            log.exception("outbox_lane_failed", lane=lane.name)

    async def _take(self, lane: Lane, count: int, block_ms: int) -> list[OutboxEntry]:
        asked_at = time.monotonic()
        entries = await self._outbox.take(
            self._consumer, count, block_ms, priorities=lane.priorities
        )
        self._hold(entries, asked_at)
        return entries

    def _hold(self, entries: list[OutboxEntry], asked_at: float) -> None:
        """Entries just taken are at work, under a fence each. A blocking take's entries
        may have been claimed at any point of the wait: their fence runs from the moment
        the take was asked for (the safe side)."""
        for entry in entries:
            fence = Fence.starting(
                f"outbox {entry.entry_id}", self._claim_after, margin=self._margin,
                asked_at=asked_at,
            )  # fmt: skip
            self._at_work[entry.entry_id] = (entry, fence)

    def _let_go(self, entries: list[OutboxEntry]) -> None:
        """Taken but not carried out: no longer extended, so another consumer gets them."""
        for entry in entries:
            self._at_work.pop(entry.entry_id, None)

    async def _carry_out(self, entries: list[OutboxEntry]) -> int:
        fences = {e.entry_id: self._at_work[e.entry_id][1] for e in entries}
        try:
            done = await self._runner.run(
                entries, on_done=self._settle, fences=fences, on_stranded=self._strand
            )
        finally:
            self._let_go(entries)
        return len(done)

    async def _settle(self, entries: list[OutboxEntry]) -> None:
        try:
            await self._outbox.settle(entries)
        except CacheUnavailable as exc:  # done, but not marked: try again at the next beat
            log.warning("outbox_settle_deferred", entries=len(entries), error=str(exc)[:200])
            self._unsettled.extend(entries[: max(0, KEEP_AT_MOST - len(self._unsettled))])

    async def _strand(self, entries: list[OutboxEntry]) -> None:
        for entry in entries:
            if len(self._stranded) < KEEP_AT_MOST:
                self._stranded[entry.action.key] = entry.action

    async def _catch_up(self) -> None:
        """The outbox answers again: settle what was done meanwhile (refused by the
        fence where another consumer took it), and record again what may have been
        lost (recording skips every key Redis still knows)."""
        if self._unsettled:
            unsettled, self._unsettled = self._unsettled, []
            try:
                await self._outbox.settle(unsettled)
            except CacheUnavailable:
                self._unsettled = unsettled + self._unsettled
                return
        if self._stranded:
            stranded, self._stranded = self._stranded, {}
            try:
                again = await self._outbox.record(list(stranded.values()))
            except CacheUnavailable:
                self._stranded = stranded | self._stranded
                return
            if again:
                log.warning("outbox_entries_recorded_again", count=again, of=len(stranded))

    async def _keep_claims(self) -> None:
        """A long wait for Telegram's budget must not look like a dead consumer; an
        entry another consumer took meanwhile has its fence marked lost at once."""
        while True:
            await asyncio.sleep(self._heartbeat)
            if self._unsettled or self._stranded:
                await self._catch_up()
            if not self._at_work:
                continue
            held = dict(self._at_work)
            asked_at = time.monotonic()
            try:
                ours = await self._outbox.extend(self._consumer, [e for e, _ in held.values()])
            except Exception as exc:  # the next beat tries again
                log.warning("outbox_extend_failed", error=str(exc))
                continue
            kept = {e.entry_id for e in ours}
            for entry_id, (_, fence) in held.items():
                if entry_id in kept:
                    fence.renewed(asked_at, self._claim_after, self._margin)
                else:
                    fence.lose()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
