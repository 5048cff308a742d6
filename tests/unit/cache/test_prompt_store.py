"""RedisPromptStore on fakeredis: the prompt slot and the deletion schedule."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisPromptStore
from gmbot.domain.ports import DueDeletion

CHAT, USER, MESSAGE = -1001, 42, 777
SLOT = f"t:prompt:{CHAT}:{USER}"


@pytest.fixture
def store(redis: Redis) -> RedisPromptStore:
    return RedisPromptStore(redis, namespace="t:")


# --------------------------------------------------------------------------- slot


async def test_slot_lifecycle(store: RedisPromptStore) -> None:
    assert await store.claim(CHAT, USER, 60)
    assert not await store.claim(CHAT, USER, 60)
    assert await store.claim(CHAT, USER + 1, 60)  # per user
    assert await store.current(CHAT, USER) is None  # claimed, not sent yet
    await store.attach(CHAT, USER, MESSAGE, 60)
    assert await store.current(CHAT, USER) == MESSAGE
    assert not await store.claim(CHAT, USER, 60)
    assert await store.clear(CHAT, USER) == MESSAGE
    assert await store.current(CHAT, USER) is None
    assert await store.clear(CHAT, USER) is None
    assert await store.claim(CHAT, USER, 60)


async def test_clear_of_a_pending_slot_frees_it(store: RedisPromptStore) -> None:
    await store.claim(CHAT, USER, 60)
    assert await store.clear(CHAT, USER) is None
    assert await store.claim(CHAT, USER, 60)


async def test_claim_expires_with_its_ttl(redis: Redis, store: RedisPromptStore) -> None:
    await store.claim(CHAT, USER, 60)
    assert 59 <= await redis.ttl(SLOT) <= 60


async def test_attach_keeps_the_remaining_ttl(redis: Redis, store: RedisPromptStore) -> None:
    await store.claim(CHAT, USER, 60)
    await store.attach(CHAT, USER, MESSAGE, 3600)
    assert 59 <= await redis.ttl(SLOT) <= 60


async def test_attach_recreates_a_vanished_slot(redis: Redis, store: RedisPromptStore) -> None:
    await store.attach(CHAT, USER, MESSAGE, 90)
    assert await store.current(CHAT, USER) == MESSAGE
    assert 89 <= await redis.ttl(SLOT) <= 90


async def test_only_one_concurrent_clear_gets_the_message(store: RedisPromptStore) -> None:
    await store.claim(CHAT, USER, 60)
    await store.attach(CHAT, USER, MESSAGE, 60)
    results = await asyncio.gather(*(store.clear(CHAT, USER) for _ in range(10)))
    assert sorted(results, key=str) == [MESSAGE] + [None] * 9


# --------------------------------------------------------------------------- schedule


async def test_claim_due_takes_only_what_is_due(store: RedisPromptStore) -> None:
    early, late = DueDeletion(CHAT, 1, USER), DueDeletion(CHAT, 2, None)
    await store.schedule_deletion(late, 1000.5)
    await store.schedule_deletion(early, 999.0)
    await store.schedule_deletion(DueDeletion(CHAT, 3, USER), 1001.0)
    assert await store.claim_due(1000.5) == [early, late]  # oldest first
    assert await store.claim_due(1000.5) == []
    assert await store.claim_due(2000) == [DueDeletion(CHAT, 3, USER)]


async def test_claim_due_respects_the_limit(store: RedisPromptStore) -> None:
    for message in range(10):
        await store.schedule_deletion(DueDeletion(CHAT, message), 100 + message)
    assert [d.message_id for d in await store.claim_due(200, limit=4)] == [0, 1, 2, 3]
    assert [d.message_id for d in await store.claim_due(200, limit=100)] == list(range(4, 10))
    assert await store.claim_due(200, limit=0) == []


async def test_rescheduling_the_same_prompt_keeps_one_entry(store: RedisPromptStore) -> None:
    await store.schedule_deletion(DueDeletion(CHAT, 1, USER), 100)
    await store.schedule_deletion(DueDeletion(CHAT, 1, USER), 50)
    assert await store.claim_due(60) == [DueDeletion(CHAT, 1, USER)]
    assert await store.claim_due(1000) == []


async def test_claim_due_skips_foreign_members(redis: Redis, store: RedisPromptStore) -> None:
    await redis.zadd("t:prompt_due", {b"garbage": 1, b"1:2:3:4": 1})
    await store.schedule_deletion(DueDeletion(CHAT, 5), 2)
    assert await store.claim_due(10) == [DueDeletion(CHAT, 5)]
    assert await redis.zcard("t:prompt_due") == 0


async def test_claim_due_handles_more_than_lua_can_unpack(
    redis: Redis, store: RedisPromptStore
) -> None:
    await redis.zadd("t:prompt_due", {f"{CHAT}:{m}:": m for m in range(9000)})
    assert len(await store.claim_due(1e12, limit=9000)) == 9000
    assert await redis.zcard("t:prompt_due") == 0


async def test_each_due_item_goes_to_exactly_one_of_20_claimers(
    server: fakeredis.FakeServer, store: RedisPromptStore
) -> None:
    scheduled = [DueDeletion(CHAT - n % 7, n, USER if n % 2 else None) for n in range(1000)]
    for n, item in enumerate(scheduled):
        await store.schedule_deletion(item, n / 10)

    # One client per claimer, as separate instances would have.
    clients = [fakeredis.FakeAsyncRedis(server=server) for _ in range(20)]

    async def drain(claimer: RedisPromptStore) -> list[DueDeletion]:
        taken: list[DueDeletion] = []
        while batch := await claimer.claim_due(1e9, limit=7):
            taken.extend(batch)
            await asyncio.sleep(0)
        return taken

    per_claimer = await asyncio.gather(
        *(drain(RedisPromptStore(c, namespace="t:")) for c in clients)
    )
    taken = [item for batch in per_claimer for item in batch]
    assert len(taken) == len(scheduled)
    assert set(taken) == set(scheduled)
    assert sum(1 for batch in per_claimer if batch) > 1  # they really competed
    for client in clients:
        await client.aclose()
