"""In-memory Outbox, with the Redis adapter's semantics
(tests/unit/cache/test_outbox_contract.py runs the same checks against both).

Idle time and key TTLs run on a FakeClock; a blocking take waits in real time (up to
`max_block` seconds) for a record, as a worker loop on Redis would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from gmbot.domain.actions import Action, OutboxEntry, Priority
from gmbot.domain.fencing import CURRENT_FENCE, LeaseLost
from gmbot.domain.ports import CacheUnavailable, Outbox
from tests.fakes.clock import Expiring, FakeClock

_RECORDED, _DONE = "1", "done"


@dataclass
class _Stored:
    action: Action
    consumer: str | None = None  # None: never handed out
    taken_at: float = 0.0
    deliveries: int = 0  # hand-outs of this entry (the fence's claim)
    earlier: int = 0  # attempts of the entries it was postponed from


class InMemoryOutbox(Outbox):
    def __init__(
        self,
        clock: FakeClock,
        *,
        claim_after: float = 15.0,
        key_ttl: float = 86400,
        max_block: float = 2.0,
    ) -> None:
        self._clock = clock
        self._claim_after = claim_after
        self._key_ttl = key_ttl
        self._max_block = max_block
        self._streams: list[dict[str, _Stored]] = [{} for _ in Priority]  # in stream order
        self._keys: dict[str, Expiring] = {}
        self._later: list[tuple[float, int, _Stored]] = []  # postponed: due, priority, entry
        self._ids = itertools.count(1)
        self._arrival = asyncio.Event()
        self.available = True  # False: every call raises CacheUnavailable
        self.recorded: list[Action] = []  # actions recorded as new, in order
        self.settled: list[OutboxEntry] = []

    def _check(self) -> None:
        if not self.available:
            raise CacheUnavailable("outbox unavailable (fake)")

    def _key(self, key: str) -> Expiring | None:
        state = self._keys.get(key)
        if state is not None and state.expires <= self._clock():
            del self._keys[key]
            return None
        return state

    async def record(self, actions: Sequence[Action]) -> int:
        self._check()
        fence = CURRENT_FENCE.get()
        if fence is not None and not fence.valid:  # Redis checks the lease token itself
            raise LeaseLost(fence.name)
        new, now = 0, self._clock()
        for action in actions:
            if self._key(action.key) is not None:
                continue
            delay = max(0.0, action.delay)
            self._keys[action.key] = Expiring(_RECORDED, now + self._key_ttl + delay)
            # Handed out without its delay (a taken action is due), as Redis stores it.
            stored = Action(action.kind, action.chat_id, action.key, dict(action.fields))
            if delay > 0:
                self._later.append((now + delay, action.priority, _Stored(stored)))
            else:
                entry_id = f"{int(action.priority)}-{next(self._ids)}"
                self._streams[action.priority][entry_id] = _Stored(stored)
            self.recorded.append(action)
            new += 1
        if new:
            # Wake every blocked take; later ones wait on a fresh event.
            self._arrival.set()
            self._arrival = asyncio.Event()
        return new

    async def take(
        self,
        consumer: str,
        count: int,
        block_ms: int = 0,
        *,
        priorities: Sequence[Priority] | None = None,
    ) -> list[OutboxEntry]:
        self._check()
        chosen = list(Priority) if priorities is None else sorted(set(priorities))
        taken = self._take_now(consumer, count, chosen)
        if taken or block_ms <= 0 or count <= 0 or not chosen:
            return taken
        arrival = self._arrival
        with suppress(TimeoutError):
            await asyncio.wait_for(arrival.wait(), min(block_ms / 1000, self._max_block))
        return self._take_now(consumer, count, chosen)

    def _take_now(self, consumer: str, count: int, chosen: list[Priority]) -> list[OutboxEntry]:
        now = self._clock()
        waiting = []
        # Due ones go back, soonest first, behind the rest.
        for due, priority, stored in sorted(self._later, key=lambda later: later[0]):
            if due <= now:
                self._streams[priority][f"{priority}-{next(self._ids)}"] = stored
            else:
                waiting.append((due, priority, stored))
        self._later = waiting
        out: list[OutboxEntry] = []
        for priority in chosen:
            stream = self._streams[priority]
            # Handed-out entries come before new ones in a stream, as in Redis: taking
            # reclaims stale ones first, then reads new ones.
            for entry_id, stored in list(stream.items()):
                if len(out) >= count:
                    return out
                if stored.consumer is not None and now - stored.taken_at < self._claim_after:
                    continue  # its consumer is still on it
                state = self._key(stored.action.key)
                if state is not None and state.value == _DONE:
                    del stream[entry_id]  # carried out already: settle, never hand out
                    continue
                stored.consumer, stored.taken_at = consumer, now
                stored.deliveries += 1
                deliveries = stored.earlier + stored.deliveries
                entry = OutboxEntry(
                    entry_id, stored.action, deliveries, consumer, stored.deliveries
                )
                out.append(entry)
        return out

    def _ours(self, entry: OutboxEntry) -> _Stored | None:
        """The stored entry, when it is still the entry's consumer's at its claim."""
        priority = int(entry.entry_id.partition("-")[0])
        stored = self._streams[priority].get(entry.entry_id)
        if stored is None:
            return None
        if entry.consumer and (
            stored.consumer != entry.consumer or stored.deliveries != entry.claim
        ):
            return None
        return stored

    async def settle(self, entries: Sequence[OutboxEntry]) -> int:
        self._check()
        settled = 0
        for entry in entries:
            if self._ours(entry) is None:
                continue  # taken over: its new consumer settles it
            priority = int(entry.entry_id.partition("-")[0])
            del self._streams[priority][entry.entry_id]
            state = self._key(entry.action.key)
            if state is not None:  # a key forgotten meanwhile stays forgotten
                state.value = _DONE
            self.settled.append(entry)
            settled += 1
        return settled

    async def postpone(self, entries: Sequence[OutboxEntry], delay: float) -> int:
        self._check()
        moved = 0
        for entry in entries:
            stored = self._ours(entry)
            if stored is None:
                continue
            priority = int(entry.entry_id.partition("-")[0])
            del self._streams[priority][entry.entry_id]
            again = _Stored(stored.action, earlier=entry.deliveries)
            self._later.append((self._clock() + delay, priority, again))
            moved += 1
        return moved

    async def extend(self, consumer: str, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        self._check()
        now, ours = self._clock(), []
        for entry in entries:
            stored = self._ours(entry)
            if stored is not None and stored.consumer == consumer:
                stored.taken_at = now
                ours.append(entry)
        return ours

    async def forget(self, keys: Sequence[str]) -> None:
        self._check()
        for key in keys:
            self._keys.pop(key, None)

    async def backlog(self) -> int:
        self._check()
        return sum(len(stream) for stream in self._streams) + len(self._later)

    # ------------------------------------------------------------------ for tests

    def mark_done(self, key: str) -> None:
        """A settle whose "done" mark landed but whose acknowledgement did not."""
        state = self._key(key)
        if state is not None:
            state.value = _DONE

    def lose_streams(self) -> None:
        """The streams (and their groups) are gone; the recorded keys remain."""
        for stream in self._streams:
            stream.clear()
        self._later.clear()

    def lose_everything(self) -> None:
        """A restart without persistence."""
        self.lose_streams()
        self._keys.clear()

    def entries(self) -> list[Action]:
        """Every unsettled action, in priority then stream order."""
        waiting = [stored.action for _, _, stored in self._later]
        return [s.action for stream in self._streams for s in stream.values()] + waiting
