"""Engine construction: URL handling, SQLite connection setup, pool gauges."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from gmbot.db.engine import SQLITE_BUSY_TIMEOUT, async_url, create_engine, pool_status
from gmbot.db.migrate import upgrade


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://u@db/gmbot", "postgresql+asyncpg"),
        ("postgresql://u:p@db:5432/gmbot", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db/gmbot", "postgresql+asyncpg"),
        ("sqlite:///./gmbot.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite"),
    ],
)
def test_async_url_picks_the_async_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@db/gmbot", "postgresql+psycopg2://u@db/gmbot"])
def test_async_url_rejects_other_drivers(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_url(url)


async def test_postgres_engine_has_a_bounded_pool() -> None:
    # Nothing connects here; the live checks are in tests/integration/db.
    engine = create_engine(
        "postgresql://gmbot@127.0.0.1:1/gmbot", pool_size=3, max_overflow=2, application_name="x"
    )
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
        assert isinstance(engine.pool, AsyncAdaptedQueuePool)
        assert pool_status(engine) == {"size": 3, "checked_out": 0, "overflow": 0}
    finally:
        await engine.dispose()


async def test_sqlite_connections_enforce_foreign_keys_and_wait_for_locks(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as connection:
        foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        busy_timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()

    assert foreign_keys == 1
    assert busy_timeout == SQLITE_BUSY_TIMEOUT * 1000


async def test_sqlite_rejects_a_link_to_an_unknown_group(sqlite_engine: AsyncEngine) -> None:
    await upgrade(sqlite_engine)
    async with sqlite_engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO channels VALUES (-1002000000001, 'Alpha', NULL, NULL, 1)")
        )
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        async with sqlite_engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO channel_links (chat_id, channel_id, linked_at) "
                    "VALUES (-1001234567890, -1002000000001, '2025-01-01 00:00:00')"
                )
            )


async def test_sqlite_file_pool_gauges(sqlite_engine: AsyncEngine) -> None:
    assert pool_status(sqlite_engine)["checked_out"] == 0
    async with sqlite_engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        status = pool_status(sqlite_engine)
    assert status["checked_out"] == 1
    assert status["overflow"] == 0
    assert status["size"] > 0
    assert pool_status(sqlite_engine)["checked_out"] == 0


async def test_sqlite_in_memory_takes_no_pool_arguments() -> None:
    # StaticPool would reject pool_size / max_overflow if they were passed on.
    engine = create_engine(
        "sqlite+aiosqlite:///:memory:", pool_size=5, max_overflow=10, application_name="x"
    )
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        assert isinstance(engine.pool, StaticPool)
        assert pool_status(engine) == {"size": 0, "checked_out": 0, "overflow": 0}
    finally:
        await engine.dispose()
