"""RedisPromptStore against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisPromptStore, create_redis
from gmbot.domain.ports import DueDeletion

pytestmark = pytest.mark.redis

CHAT, USER, MESSAGE = -1001, 42, 777


@pytest.fixture
def store(redis: Redis, namespace: str) -> RedisPromptStore:
    return RedisPromptStore(redis, namespace=namespace)


async def test_slot_lifecycle(redis: Redis, store: RedisPromptStore, namespace: str) -> None:
    slot = f"{namespace}prompt:{CHAT}:{USER}"
    assert await store.claim(CHAT, USER, 30)
    assert not await store.claim(CHAT, USER, 30)
    assert await store.current(CHAT, USER) is None
    await store.attach(CHAT, USER, MESSAGE, 3600)
    assert await store.current(CHAT, USER) == MESSAGE
    assert 29 <= await redis.ttl(slot) <= 30  # attach kept the claim's TTL
    assert await store.clear(CHAT, USER) == MESSAGE
    assert await store.clear(CHAT, USER) is None
    assert await store.claim(CHAT, USER, 30)
    assert await store.clear(CHAT, USER) is None  # pending: nothing to delete
    await store.attach(CHAT, USER, MESSAGE, 45)  # the slot is gone: recreated
    assert 44 <= await redis.ttl(slot) <= 45


async def test_claim_due_order_limit_and_future(store: RedisPromptStore) -> None:
    for message in range(5):
        await store.schedule_deletion(DueDeletion(CHAT, message, USER), 1000 + message)
    await store.schedule_deletion(DueDeletion(CHAT, 99), 5000)
    assert [d.message_id for d in await store.claim_due(1003.5, limit=2)] == [0, 1]
    assert await store.claim_due(1003.5) == [DueDeletion(CHAT, 2, USER), DueDeletion(CHAT, 3, USER)]
    assert await store.claim_due(4999) == [DueDeletion(CHAT, 4, USER)]
    assert await store.claim_due(5000) == [DueDeletion(CHAT, 99)]


async def test_claim_due_takes_more_than_lua_can_unpack(
    redis: Redis, store: RedisPromptStore, namespace: str
) -> None:
    await redis.zadd(f"{namespace}prompt_due", {f"{CHAT}:{m}:": m for m in range(9000)})
    assert len(await store.claim_due(1e12, limit=10_000)) == 9000


async def test_each_due_item_goes_to_exactly_one_of_20_instances(
    redis_url: str, store: RedisPromptStore, namespace: str
) -> None:
    scheduled = [DueDeletion(CHAT - n % 5, n, USER if n % 3 else None) for n in range(2000)]
    for n, item in enumerate(scheduled):
        await store.schedule_deletion(item, n / 100)
    clients = [create_redis(redis_url, max_connections=2)[0] for _ in range(20)]

    async def drain(claimer: RedisPromptStore) -> list[DueDeletion]:
        taken: list[DueDeletion] = []
        while batch := await claimer.claim_due(1e9, limit=9):
            taken.extend(batch)
        return taken

    try:
        per_instance = await asyncio.gather(
            *(drain(RedisPromptStore(c, namespace=namespace)) for c in clients)
        )
    finally:
        for client in clients:
            await client.aclose()
    taken = [item for batch in per_instance for item in batch]
    assert len(taken) == len(scheduled)
    assert set(taken) == set(scheduled)
    assert sum(1 for batch in per_instance if batch) > 1
