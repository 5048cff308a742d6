"""Looking into the cluster's outbox (Redis Streams, one per priority) and its rate
limiter's 429 holds from outside.

What the bot did is always read from the emulator's journal; the outbox is read only for
what no journal shows: whether work is still recorded and not carried out (the backlog),
and which instance holds which entries (a consumer group's pending list), so a test can
kill the one holding work and see that work move.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gmbot.cache.keys import CacheKeys
from gmbot.cache.outbox import FIELD_PREFIX, GROUP
from gmbot.domain.actions import Priority


@dataclass(frozen=True, slots=True)
class HeldEntry:
    priority: Priority
    entry_id: str
    consumer: str
    kind: str
    chat_id: int
    key: str
    fields: dict[str, str]

    def field(self, name: str) -> str:
        """One of the action's own fields (the outbox stores them as "f.<name>")."""
        return self.fields.get(FIELD_PREFIX + name, "")


class OutboxProbe:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self._redis: Redis = Redis.from_url(redis_url, decode_responses=True)
        self._keys = CacheKeys(namespace)
        self._namespace = namespace

    def stream(self, priority: Priority) -> str:
        return self._keys.outbox(priority)

    async def backlog(self) -> int:
        """Entries recorded and not settled yet, over every priority (settled ones are
        deleted from their stream, so a stream's length is its backlog)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for priority in Priority:
                pipe.xlen(self.stream(priority))
            return sum(int(n) for n in await pipe.execute())

    async def pending(self, priority: Priority) -> dict[str, int]:
        """Entries handed out and not settled, by consumer (instance id)."""
        try:
            summary = await self._redis.xpending(self.stream(priority), GROUP)
        except ResponseError:  # no stream or no group yet: nothing was ever taken
            return {}
        return {c["name"]: int(c["pending"]) for c in summary.get("consumers") or []}

    async def held(self, priorities: tuple[Priority, ...] = tuple(Priority)) -> list[HeldEntry]:
        """Every entry handed out and not settled, with its consumer and action."""
        out: list[HeldEntry] = []
        for priority in priorities:
            stream = self.stream(priority)
            try:
                rows = await self._redis.xpending_range(stream, GROUP, "-", "+", 10_000)
            except ResponseError:
                continue
            for row in rows:
                entry_id = row["message_id"]
                found = await self._redis.xrange(stream, entry_id, entry_id)
                fields = found[0][1] if found else {}
                out.append(
                    HeldEntry(
                        priority,
                        entry_id,
                        row["consumer"],
                        fields.get("kind", ""),
                        int(fields.get("chat", 0)),
                        fields.get("key", ""),
                        fields,
                    )
                )
        return out

    async def hold_left(self, limit: str = "writes") -> float:
        """Seconds the fleet's rate limiter still holds `limit` back after a 429 (0: none)."""
        ms = await self._redis.pttl(f"{self._namespace}rate_hold:{limit}")
        return max(0, int(ms)) / 1000

    async def close(self) -> None:
        await self._redis.aclose()
