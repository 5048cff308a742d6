"""In-memory JobLock, with the Redis adapter's semantics
(tests/unit/cache/test_job_lock.py runs the same checks against both)."""

from __future__ import annotations

import itertools

from gmbot.domain.ports import CacheUnavailable, JobLock
from tests.fakes.clock import FakeClock


class InMemoryJobLock(JobLock):
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}  # name -> (token, expires)
        self._tokens = itertools.count(1)
        self.available = True  # False: every call raises CacheUnavailable, as Redis down

    async def hold(self, name: str, seconds: float) -> str | None:
        self._check()
        if self.holder(name) is not None:
            return None
        token = f"fake:{next(self._tokens)}"
        # As Redis' PX: at least one millisecond.
        self._held[name] = (token, self._clock() + max(0.001, round(seconds * 1000) / 1000))
        return token

    async def release(self, name: str, token: str) -> bool:
        self._check()
        if self.holder(name) != token:
            return False
        del self._held[name]
        return True

    def holder(self, name: str) -> str | None:
        """The token holding `name` now, if any (for tests)."""
        held = self._held.get(name)
        if held is None or held[1] <= self._clock():
            return None
        return held[0]

    def _check(self) -> None:
        if not self.available:
            raise CacheUnavailable("job lock unavailable (fake)")
