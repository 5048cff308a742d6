"""The PostgreSQL engine under load: bounded connections, visible by application_name."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gmbot.db.engine import create_engine, pool_status

pytestmark = pytest.mark.postgres

POOL_SIZE = 3
MAX_OVERFLOW = 2
WORKERS = 25


@pytest.fixture
def application_name() -> str:
    return f"gmbot-pool-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def engine(postgres_url: str, application_name: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        postgres_url,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        application_name=application_name,
    )
    yield engine
    await engine.dispose()


@pytest.fixture
async def observer(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    # Outside the pool under test, so it never takes one of its slots.
    observer = create_async_engine(postgres_url, poolclass=NullPool)
    yield observer
    await observer.dispose()


async def backends(observer: AsyncEngine, application_name: str) -> int:
    async with observer.connect() as connection:
        result = await connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name},
        )
        return int(result.scalar_one())


async def test_application_name_is_sent(engine: AsyncEngine, application_name: str) -> None:
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT current_setting('application_name')"))
        assert result.scalar_one() == application_name


async def test_concurrent_load_never_exceeds_pool_size_plus_overflow(
    engine: AsyncEngine, observer: AsyncEngine, application_name: str
) -> None:
    limit = POOL_SIZE + MAX_OVERFLOW
    done = asyncio.Event()
    seen_backends: list[int] = []
    seen_status: list[dict[str, int]] = []

    async def work() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(0.1)"))

    async def watch() -> None:
        while not done.is_set():
            seen_backends.append(await backends(observer, application_name))
            seen_status.append(pool_status(engine))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(work() for _ in range(WORKERS)))
    finally:
        done.set()
        await watcher

    # The load did saturate the pool (so the bound was really tested) ...
    assert max(seen_backends) == limit
    assert max(s["checked_out"] for s in seen_status) == limit
    assert max(s["overflow"] for s in seen_status) == MAX_OVERFLOW
    # ... and overflow connections are closed once returned; the pool keeps its size.
    assert pool_status(engine) == {"size": POOL_SIZE, "checked_out": 0, "overflow": 0}
    assert await backends(observer, application_name) <= POOL_SIZE
