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
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from gmbot.domain.actions import OutboxEntry, Priority
from gmbot.domain.ports import Outbox
from gmbot.services.action_runner import ActionRunner

log = structlog.get_logger(__name__)


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
    ) -> None:
        """`heartbeat`: how often the entries at work are extended; well inside the
        outbox's claim timeout, after which another consumer would take them over."""
        self._outbox = outbox
        self._runner = runner
        self._consumer = consumer
        self._lanes = tuple(lanes)
        self._block_ms = block_ms
        self._error_pause = error_pause
        self._heartbeat = heartbeat
        self._stopping = asyncio.Event()
        self._at_work: dict[str, OutboxEntry] = {}

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
        for _ in range(rounds):
            entries = await self._outbox.take(self._consumer, 500)
            if not entries:
                break
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
            except Exception:  # Redis unreachable, say: the lane must outlive it
                log.exception("outbox_lane_failed", lane=lane.name)
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
                except Exception:
                    log.exception("outbox_lane_failed", lane=lane.name)
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

    async def _take(self, lane: Lane, count: int, block_ms: int) -> list[OutboxEntry]:
        return await self._outbox.take(self._consumer, count, block_ms, priorities=lane.priorities)

    async def _carry_out(self, entries: list[OutboxEntry]) -> int:
        for entry in entries:
            self._at_work[entry.entry_id] = entry
        try:
            done = await self._runner.run(entries, on_done=self._outbox.settle)
        finally:
            for entry in entries:
                self._at_work.pop(entry.entry_id, None)
        return len(done)

    async def _keep_claims(self) -> None:
        """A long wait for Telegram's budget must not look like a dead consumer."""
        while True:
            await asyncio.sleep(self._heartbeat)
            if self._at_work:
                try:
                    await self._outbox.extend(self._consumer, list(self._at_work.values()))
                except Exception as exc:  # the next beat tries again
                    log.warning("outbox_extend_failed", error=str(exc))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
