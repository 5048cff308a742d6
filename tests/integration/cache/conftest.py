"""Real Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379/15).

Every test works in its own random namespace and deletes its keys afterwards, so runs
can share the server with each other and with anything else on it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import BlockingConnectionPool, Connection, Redis

from gmbot.cache import create_redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url() -> str:
    parts = urlsplit(REDIS_URL)
    if parts.scheme in ("redis", "rediss"):
        address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        try:
            socket.create_connection(address, timeout=0.5).close()
        except OSError as exc:
            pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def namespace() -> str:
    return f"gmbot-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis(redis_url: str, namespace: str) -> AsyncIterator[Redis]:
    client, embedded = create_redis(redis_url, max_connections=20, namespace_hint=namespace)
    assert not embedded
    yield client
    await delete_namespace(client, namespace)
    await client.aclose()


async def delete_namespace(client: Redis, namespace: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=1000)]
    if keys:
        await client.delete(*keys)


class LoggingConnection(Connection):
    """Appends to `trips`, per socket write, the names of the commands written (one for
    a command, all of them for a pipeline). Same idea as the unit tests' spy.
    """

    def __init__(self, *args: Any, trips: list[list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trips = trips
        self._packed: list[str] = []

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0].decode() if isinstance(args[0], bytes) else args[0]
        self._packed.append(name.upper())
        return super().pack_command(*args)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self._trips.append(self._packed)
        self._packed = []
        await super().send_packed_command(command, check_health)


@pytest.fixture
def wire() -> list[list[str]]:
    """Round trips made by `spied_redis`: clear() it, act, then compare."""
    return []


@pytest.fixture
async def spied_redis(redis: Redis, redis_url: str, wire: list[list[str]]) -> AsyncIterator[Redis]:
    """A second client that logs its round trips; `redis` still cleans the namespace."""
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=2, connection_class=LoggingConnection, trips=wire
    )
    client = Redis.from_pool(pool)
    yield client
    await client.aclose()
