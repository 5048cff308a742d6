"""In-memory WarningStore with the Redis adapter's semantics
(tests/unit/cache/test_warnings_contract.py runs the same checks against both)."""

from __future__ import annotations

from gmbot.cache.warnings import WARNING_TTL
from gmbot.domain.ports import WarningStore
from tests.fakes.clock import FakeClock


class InMemoryWarningStore(WarningStore):
    def __init__(self, clock: FakeClock, *, ttl: int = WARNING_TTL) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[int, int], tuple[set[int], float]] = {}

    def _live(self, chat_id: int, user_id: int) -> set[int]:
        entry = self._entries.get((chat_id, user_id))
        if entry is None:
            return set()
        messages, expires = entry
        if expires <= self._clock():
            del self._entries[(chat_id, user_id)]
            return set()
        return messages

    async def record(self, chat_id: int, user_id: int, message_id: int) -> int:
        messages = self._live(chat_id, user_id) | {message_id}
        self._entries[(chat_id, user_id)] = (messages, self._clock() + self.ttl)
        return len(messages)

    async def count(self, chat_id: int, user_id: int) -> int:
        return len(self._live(chat_id, user_id))

    async def reset(self, chat_id: int, user_id: int) -> None:
        self._entries.pop((chat_id, user_id), None)
