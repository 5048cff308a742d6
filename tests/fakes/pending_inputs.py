"""In-memory PendingInputs, with the Redis adapter's semantics (one entry per user,
replaced by the next expect, gone after its ttl); tests/unit/cache/test_pending_inputs.py
runs the same checks against both."""

from __future__ import annotations

from collections.abc import Callable

from gmbot.domain.ports import CacheUnavailable, PendingInput, PendingInputs
from tests.fakes.clock import Expiring


class InMemoryPendingInputs(PendingInputs):
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[int, Expiring] = {}
        self.available = True  # False: every call raises CacheUnavailable, as Redis down

    def _check(self) -> None:
        if not self.available:
            raise CacheUnavailable("fake redis down")

    async def expect(self, user_id: int, pending: PendingInput, ttl: int) -> None:
        self._check()
        self._entries[user_id] = Expiring(pending, self._clock() + max(1, ttl))

    async def awaited(self, user_id: int) -> PendingInput | None:
        self._check()
        entry = self._entries.get(user_id)
        if entry is None or entry.expires <= self._clock():
            self._entries.pop(user_id, None)
            return None
        value: PendingInput = entry.value
        return value

    async def drop(self, user_id: int) -> PendingInput | None:
        pending = await self.awaited(user_id)
        self._entries.pop(user_id, None)
        return pending
