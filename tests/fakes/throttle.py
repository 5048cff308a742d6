"""In-memory Throttle, with the Redis adapter's semantics
(tests/unit/services/test_fakes_contract.py runs the same checks against both)."""

from __future__ import annotations

from gmbot.domain.ports import Throttle
from tests.fakes.clock import FakeClock


class InMemoryThrottle(Throttle):
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._held: dict[str, float] = {}
        self.acquired: list[str] = []  # keys of successful acquires, in order
        self.refused: list[str] = []
        self.released: list[str] = []

    async def acquire(self, key: str, seconds: float) -> bool:
        now = self._clock()
        expires = self._held.get(key)
        if expires is not None and expires > now:
            self.refused.append(key)
            return False
        # As Redis' PX: at least one millisecond.
        self._held[key] = now + max(0.001, round(seconds * 1000) / 1000)
        self.acquired.append(key)
        return True

    async def remaining(self, key: str) -> float:
        expires = self._held.get(key)
        return max(0.0, expires - self._clock()) if expires is not None else 0.0

    async def release(self, key: str) -> None:
        self.released.append(key)
        self._held.pop(key, None)

    def held(self, key: str) -> bool:
        expires = self._held.get(key)
        return expires is not None and expires > self._clock()
