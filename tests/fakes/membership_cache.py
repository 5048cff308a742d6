"""In-memory MembershipCache, with the Redis adapter's semantics
(tests/unit/services/test_fakes_contract.py runs the same checks against both)."""

from __future__ import annotations

from gmbot.domain.ports import MembershipCache
from tests.fakes.clock import FakeClock


class InMemoryMembershipCache(MembershipCache):
    """verify:{user}:{channel}: joined for `ttl` (+/- `jitter`, relative), not joined
    for `negative_ttl`. Deterministic: a joined entry lives the shortest jittered
    lifetime, ttl * (1 - jitter), the earliest the Redis one may expire."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        ttl: int = 600,
        jitter: float = 0.0,
        negative_ttl: int = 30,
    ) -> None:
        if ttl <= 0 or negative_ttl <= 0:
            raise ValueError("ttl and negative_ttl must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self._clock = clock
        self.ttl = ttl
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self._entries: dict[tuple[int, int], tuple[bool, float]] = {}
        self.gets = 0
        self.puts: list[tuple[int, int, bool]] = []

    def peek(self, user_id: int, channel_id: int) -> bool | None:
        """The live value, without counting a get."""
        entry = self._entries.get((user_id, channel_id))
        if entry is None:
            return None
        value, expires = entry
        if expires <= self._clock():
            del self._entries[(user_id, channel_id)]
            return None
        return value

    async def get(self, user_id: int, channel_id: int) -> bool | None:
        self.gets += 1
        return self.peek(user_id, channel_id)

    async def put(self, user_id: int, channel_id: int, subscribed: bool) -> None:
        self.puts.append((user_id, channel_id, subscribed))
        life = self.ttl * (1 - self.jitter) if subscribed else self.negative_ttl
        self._entries[(user_id, channel_id)] = (subscribed, self._clock() + life)

    async def drop(self, user_id: int, channel_id: int) -> None:
        self._entries.pop((user_id, channel_id), None)
