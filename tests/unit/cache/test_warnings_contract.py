"""The WarningStore contract, run on the in-memory fake and on RedisWarningStore over
fakeredis: counted per member per group, once per offence message, reset, ttl."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gmbot.cache.warnings import RedisWarningStore
from gmbot.domain.ports import WarningStore
from tests.fakes.clock import FakeClock
from tests.fakes.warnings import InMemoryWarningStore

CHAT, OTHER_CHAT, USER, OTHER_USER = -1001, -1002, 42, 43


class WarningStoreContract:
    async def test_counts_each_offence_message(self, store: WarningStore) -> None:
        assert await store.count(CHAT, USER) == 0
        assert await store.record(CHAT, USER, 10) == 1
        assert await store.record(CHAT, USER, 11) == 2
        assert await store.count(CHAT, USER) == 2

    async def test_the_same_message_counts_once(self, store: WarningStore) -> None:
        assert await store.record(CHAT, USER, 10) == 1
        assert await store.record(CHAT, USER, 10) == 1
        assert await store.count(CHAT, USER) == 1

    async def test_per_member_per_group(self, store: WarningStore) -> None:
        await store.record(CHAT, USER, 10)
        assert await store.record(OTHER_CHAT, USER, 10) == 1
        assert await store.record(CHAT, OTHER_USER, 10) == 1
        assert await store.count(CHAT, USER) == 1

    async def test_reset_forgets_only_that_member(self, store: WarningStore) -> None:
        await store.record(CHAT, USER, 10)
        await store.record(CHAT, OTHER_USER, 11)
        await store.reset(CHAT, USER)
        assert await store.count(CHAT, USER) == 0
        assert await store.count(CHAT, OTHER_USER) == 1
        assert await store.record(CHAT, USER, 10) == 1


class TestInMemoryWarningStore(WarningStoreContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def store(self, clock: FakeClock) -> WarningStore:
        return InMemoryWarningStore(clock, ttl=100)

    async def test_warnings_lapse_a_ttl_after_the_latest(self, clock: FakeClock) -> None:
        store = InMemoryWarningStore(clock, ttl=100)
        await store.record(CHAT, USER, 10)
        clock.advance(60)
        await store.record(CHAT, USER, 11)  # refreshes the lifetime
        clock.advance(60)
        assert await store.count(CHAT, USER) == 2
        clock.advance(40)
        assert await store.count(CHAT, USER) == 0


class TestRedisWarningStore(WarningStoreContract):
    @pytest.fixture
    def store(self, redis: Redis) -> WarningStore:
        return RedisWarningStore(redis, ttl=100, namespace="t:")

    async def test_key_and_ttl(self, redis: Redis) -> None:
        await RedisWarningStore(redis, ttl=100, namespace="t:").record(CHAT, USER, 10)
        assert await redis.smembers(f"t:warn:{CHAT}:{USER}") == {b"10"}
        assert 99_000 < await redis.pttl(f"t:warn:{CHAT}:{USER}") <= 100_000


@pytest.mark.parametrize("ttl", [0, -1])
def test_rejects_a_nonpositive_ttl(redis: Redis, ttl: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RedisWarningStore(redis, ttl=ttl)
    with pytest.raises(ValueError, match="must be positive"):
        InMemoryWarningStore(FakeClock(), ttl=ttl)
