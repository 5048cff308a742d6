"""Async engine construction for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool, QueuePool

# Seconds a SQLite writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 15.0

# Plain scheme names (as in DATABASE_URL) mapped to the async driver we ship.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_url(url: str | URL) -> URL:
    """Parse a database URL, defaulting the driver to asyncpg / aiosqlite."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        raise ValueError(f"unsupported database driver: {parsed.drivername}")
    return parsed


def create_engine(
    url: str,
    *,
    pool_size: int,
    max_overflow: int,
    application_name: str,
    echo: bool = False,
) -> AsyncEngine:
    """Build the process-wide engine; never more than pool_size + max_overflow connections."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_async_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A connection dropped by a PostgreSQL restart or failover is replaced,
        # not handed to a request.
        pool_pre_ping=True,
        # Sent in the startup packet, so pg_stat_activity can count our connections.
        connect_args={"server_settings": {"application_name": application_name}},
    )


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    # The pool is left to the dialect: in-memory databases get a StaticPool,
    # which rejects pool_size / max_overflow.
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite enforces foreign keys per connection, and only when asked to.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def pool_status(engine: AsyncEngine) -> dict[str, int]:
    """Pool gauges for metrics: size, checked_out, overflow (zeros for pools without them)."""
    pool: Pool = engine.pool
    if not isinstance(pool, QueuePool):
        return {"size": 0, "checked_out": 0, "overflow": 0}
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        # QueuePool counts overflow from -pool_size; only connections past the
        # pool size are overflow in the metric's sense.
        "overflow": max(pool.overflow(), 0),
    }
