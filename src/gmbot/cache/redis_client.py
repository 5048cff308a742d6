"""Builds the Redis client every cache adapter shares, and reads its pool counters."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import fakeredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class BoundedConnectionPool(ConnectionPool):
    """At most `max_connections`; past that a caller waits (up to `timeout`) for one.

    redis-py's BlockingConnectionPool does the same, but arms a timeout and takes a
    condition lock on every command; a semaphore costs nothing while one is free.
    """

    def __init__(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(self.max_connections)
        self._wait = timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError as exc:
                raise RedisConnectionError("No connection available.") from exc
        else:
            await self._slots.acquire()
        try:
            connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
        finally:
            self._slots.release()


def create_redis(
    url: str | None,
    *,
    max_connections: int,
    namespace_hint: str = "",
    pool_timeout: float = 5.0,
    socket_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    health_check_interval: int = 30,
) -> tuple[Redis, bool]:
    """(client, embedded?).

    With a URL: a real client over a BoundedConnectionPool, so an instance holds at
    most `max_connections` connections and a burst waits up to `pool_timeout` seconds
    for a free one instead of opening more. Connections are named after
    `namespace_hint` (CLIENT LIST shows which deployment holds them).

    Without a URL: an in-process fakeredis server. Its state lives in this process,
    so it is only correct for a single instance.
    """
    if not url:
        return fakeredis.FakeAsyncRedis(), True
    pool = BoundedConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
        health_check_interval=health_check_interval,
        # A pooled connection the server closed (it restarted, or dropped idle clients)
        # fails on its next command: redis-py reconnects and sends it once more. Only
        # for connection errors: a timed-out command may have run, and is not resent.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[RedisConnectionError],
        client_name=client_name(namespace_hint),
        decode_responses=False,
    )
    # from_pool: closing the client (aclose) also closes the pool.
    return Redis.from_pool(pool), False


def client_name(namespace_hint: str) -> str:
    """CLIENT SETNAME value: "gmbot", or "gmbot-<hint>" with unsafe characters dropped."""
    hint = _NAME_UNSAFE.sub("", namespace_hint).strip(":")
    return f"gmbot-{hint}" if hint else "gmbot"


def redis_pool_stats(client: Redis) -> dict[str, int]:
    """Connections in use / idle / max for metrics; zeros unless it is our bounded pool."""
    pool = client.connection_pool
    if not isinstance(pool, BoundedConnectionPool):
        return {"in_use": 0, "idle": 0, "max": 0}
    # redis-py 5 to 8 keep these two collections; there is no public counter in all.
    return {
        "in_use": len(pool._in_use_connections),
        "idle": len(pool._available_connections),
        "max": pool.max_connections,
    }
