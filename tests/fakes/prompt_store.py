"""In-memory PromptStore, with the Redis adapter's semantics
(tests/unit/services/test_fakes_contract.py runs the same checks against both)."""

from __future__ import annotations

from gmbot.domain.ports import DueDeletion, PromptStore
from tests.fakes.clock import Expiring, FakeClock

_PENDING = "pending"


class InMemoryPromptStore(PromptStore):
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._slots: dict[tuple[int, int], Expiring] = {}  # value: "pending" | message id
        self._due: dict[DueDeletion, float] = {}
        self.claims: list[tuple[int, int]] = []  # successful claims

    def _slot(self, chat_id: int, user_id: int) -> Expiring | None:
        entry = self._slots.get((chat_id, user_id))
        if entry is not None and entry.expires <= self._clock():
            del self._slots[(chat_id, user_id)]
            return None
        return entry

    async def claim(self, chat_id: int, user_id: int, ttl: int, owner: int | None = None) -> bool:
        slot = self._slot(chat_id, user_id)
        pending = _PENDING if owner is None else f"{_PENDING}:{owner}"
        if slot is not None:
            return owner is not None and slot.value == pending
        self._slots[(chat_id, user_id)] = Expiring(pending, self._clock() + ttl)
        self.claims.append((chat_id, user_id))
        return True

    async def attach(self, chat_id: int, user_id: int, message_id: int, ttl: int) -> None:
        slot = self._slot(chat_id, user_id)
        if slot is not None:
            slot.value = message_id  # keeps the remaining TTL
        else:
            self._slots[(chat_id, user_id)] = Expiring(message_id, self._clock() + ttl)

    async def current(self, chat_id: int, user_id: int) -> int | None:
        slot = self._slot(chat_id, user_id)
        if slot is None or str(slot.value).startswith(_PENDING):
            return None
        return int(slot.value)

    async def clear(self, chat_id: int, user_id: int) -> int | None:
        slot = self._slot(chat_id, user_id)
        self._slots.pop((chat_id, user_id), None)
        if slot is None or str(slot.value).startswith(_PENDING):
            return None
        return int(slot.value)

    async def schedule_deletion(self, item: DueDeletion, at: float) -> None:
        self._due[item] = at  # like a sorted-set member: rescheduling moves it

    async def claim_due(self, now: float, limit: int = 100) -> list[DueDeletion]:
        if limit <= 0:
            return []
        # ZRANGEBYSCORE order: by score, then by the encoded member.
        ready = sorted(
            (at, _encode_due(item), item) for item, at in self._due.items() if at <= now
        )[:limit]
        for _, _, item in ready:
            del self._due[item]
        return [item for _, _, item in ready]

    # ---- inspection
    def scheduled(self) -> dict[DueDeletion, float]:
        return dict(self._due)


def _encode_due(item: DueDeletion) -> str:
    user = "" if item.user_id is None else item.user_id
    return f"{item.chat_id}:{item.message_id}:{user}"
