"""JobLock: the Redis adapter (on fakeredis) and the in-memory fake, same checks, on one
FakeClock (fakeredis reads the time through its socket module's `time`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import fakeredis
import fakeredis._socket._base as fakeredis_socket
import pytest

from gmbot.cache.job_lock import RedisJobLock
from gmbot.domain.ports import CacheUnavailable, JobLock
from tests.fakes.clock import FakeClock
from tests.fakes.job_lock import InMemoryJobLock


class _ClockAsTimeModule:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock()

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


@dataclass
class Locks:
    clock: FakeClock
    make: Any  # () -> JobLock: another instance's lock, on the same store


@pytest.fixture(params=["memory", "redis"])
async def locks(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Locks]:
    clock = FakeClock()
    if request.param == "memory":
        shared = InMemoryJobLock(clock)
        yield Locks(clock, lambda: shared)
        return
    monkeypatch.setattr(fakeredis_socket, "time", _ClockAsTimeModule(clock))
    server = fakeredis.FakeServer()
    clients: list[fakeredis.FakeAsyncRedis] = []

    def make() -> JobLock:
        clients.append(fakeredis.FakeAsyncRedis(server=server))
        return RedisJobLock(clients[-1], instance_id=f"i{len(clients)}", namespace="j:")

    yield Locks(clock, make)
    for client in clients:
        await client.aclose()


async def test_one_holder_until_the_hold_lapses(locks: Locks) -> None:
    a, b = locks.make(), locks.make()
    token = await a.hold("sweep", 30)
    assert token
    assert await b.hold("sweep", 30) is None
    assert await b.hold("other", 30)  # each name its own lock
    locks.clock.advance(29.9)
    assert await b.hold("sweep", 30) is None
    locks.clock.advance(0.2)
    assert await b.hold("sweep", 30)


async def test_only_the_holder_releases(locks: Locks) -> None:
    a, b = locks.make(), locks.make()
    token = await a.hold("sweep", 30)
    assert token
    assert not await b.release("sweep", "someone-else")
    assert await b.hold("sweep", 30) is None
    assert await a.release("sweep", token)
    assert not await a.release("sweep", token)  # once
    assert await b.hold("sweep", 30)


async def test_a_lapsed_hold_frees_nothing_of_the_next_holder(locks: Locks) -> None:
    a, b = locks.make(), locks.make()
    old = await a.hold("sweep", 1)
    assert old
    locks.clock.advance(2)
    new = await b.hold("sweep", 30)
    assert new
    assert new != old
    assert not await a.release("sweep", old)
    assert await a.hold("sweep", 30) is None


async def test_of_many_instances_one_takes_the_lock(locks: Locks) -> None:
    instances = [locks.make() for _ in range(10)]
    tokens = await asyncio.gather(*(lock.hold("sweep", 30) for lock in instances))
    assert len([t for t in tokens if t is not None]) == 1


async def test_redis_key_and_hold() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    lock = RedisJobLock(redis, instance_id="box-1", namespace="j:")
    token = await lock.hold("mute-reconciler", 2.5)
    assert token is not None
    assert token.startswith("box-1:")
    assert await redis.get("j:job:mute-reconciler") == token.encode()
    assert 2_400 < await redis.pttl("j:job:mute-reconciler") <= 2_500
    await redis.aclose()


async def test_redis_down_is_cache_unavailable() -> None:
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeAsyncRedis(server=server)
    lock = RedisJobLock(redis, namespace="j:")
    token = await lock.hold("sweep", 30)
    assert token
    server.connected = False
    with pytest.raises(CacheUnavailable):
        await lock.hold("sweep", 30)
    with pytest.raises(CacheUnavailable):
        await lock.release("sweep", token)
    await redis.aclose()


async def test_the_fake_is_unavailable_when_told() -> None:
    lock = InMemoryJobLock(FakeClock())
    lock.available = False
    with pytest.raises(CacheUnavailable):
        await lock.hold("sweep", 30)
