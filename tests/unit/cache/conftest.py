"""Each test gets a fresh in-process fakeredis server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
from redis.asyncio import Redis


def logging_connection(base: type[Any], trips: list[list[str]]) -> type[Any]:
    """A subclass of connection class `base` that appends to `trips`, per socket write,
    the names of the commands written (one for a command, all of them for a pipeline).
    """

    class LoggingConnection(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.packed: list[str] = []

        def pack_command(self, *args: Any) -> Any:
            name = args[0].decode() if isinstance(args[0], bytes) else args[0]
            self.packed.append(name.upper())
            return super().pack_command(*args)

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.append(self.packed)
            self.packed = []
            await super().send_packed_command(command, check_health)

    return LoggingConnection


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
async def redis(server: fakeredis.FakeServer) -> AsyncIterator[Redis]:
    client = fakeredis.FakeAsyncRedis(server=server)
    yield client
    await client.aclose()


@pytest.fixture
def wire() -> list[list[str]]:
    """Round trips made by `spied_redis`: clear() it, act, then compare."""
    return []


@pytest.fixture
async def spied_redis(server: fakeredis.FakeServer, wire: list[list[str]]) -> AsyncIterator[Redis]:
    """A client on the same server that logs every round trip into `wire`."""
    connection_class = logging_connection(fakeredis.FakeAsyncRedisConnection, wire)
    client = fakeredis.FakeAsyncRedis(server=server, connection_class=connection_class)
    yield client
    await client.aclose()
