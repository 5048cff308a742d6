"""create_redis, redis_pool_stats and RedisHealth, without touching the network."""

from __future__ import annotations

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gmbot.cache import RedisHealth, create_redis, redis_pool_stats
from gmbot.cache.redis_client import BoundedConnectionPool, client_name


async def test_without_url_it_is_the_embedded_stand_in() -> None:
    client, embedded = create_redis(None, max_connections=5)
    assert embedded
    assert isinstance(client, fakeredis.FakeAsyncRedis)
    assert await client.set("k", "v")
    assert redis_pool_stats(client) == {"in_use": 0, "idle": 0, "max": 0}
    other, _ = create_redis("", max_connections=5)
    assert await other.get("k") is None  # each stand-in is its own server
    await client.aclose()
    await other.aclose()


async def test_with_url_it_is_a_bounded_blocking_pool() -> None:
    # Nothing listens on port 1, and nothing connects until the first command.
    client, embedded = create_redis(
        "redis://127.0.0.1:1/3", max_connections=7, namespace_hint="prod:", pool_timeout=1.5
    )
    assert not embedded
    pool = client.connection_pool
    assert isinstance(pool, BoundedConnectionPool)
    assert pool.max_connections == 7
    assert pool._wait == 1.5
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["client_name"] == "gmbot-prod"
    assert pool.connection_kwargs["decode_responses"] is False
    assert pool.connection_kwargs["socket_timeout"] > 0
    assert pool.connection_kwargs["health_check_interval"] > 0
    assert redis_pool_stats(client) == {"in_use": 0, "idle": 0, "max": 7}
    await client.aclose()


@pytest.mark.parametrize(
    ("hint", "name"),
    [("", "gmbot"), ("gmbot:", "gmbot-gmbot"), ("blue deploy\n", "gmbot-bluedeploy")],
)
def test_client_name(hint: str, name: str) -> None:
    assert client_name(hint) == name


async def test_health_ping(server: fakeredis.FakeServer, redis: Redis) -> None:
    health = RedisHealth(redis)
    await health.ping()
    server.connected = False
    with pytest.raises(RedisConnectionError):
        await health.ping()
