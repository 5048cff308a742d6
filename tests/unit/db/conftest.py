"""Backends for the db tests that need no service: the in-memory fake and SQLite.

uow_factory
    Parametrized over ``memory`` (tests.fakes.repositories) and ``sqlite``
    (a temporary database file migrated with gmbot.db.migrate.upgrade).
migration_engine
    An engine on an empty SQLite file, for the migration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.engine import create_engine
from gmbot.db.migrate import upgrade
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.domain.ports import UnitOfWorkFactory
from tests.fakes.repositories import InMemoryUnitOfWorkFactory


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gmbot.db'}"


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url, pool_size=5, max_overflow=5, application_name="tests")
    yield engine
    await engine.dispose()


@pytest.fixture(params=["memory", "sqlite"])
async def uow_factory(
    request: pytest.FixtureRequest, sqlite_url: str
) -> AsyncIterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    engine = create_engine(sqlite_url, pool_size=5, max_overflow=5, application_name="tests")
    try:
        await upgrade(engine)
        yield SqlUnitOfWorkFactory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def migration_engine(sqlite_engine: AsyncEngine) -> AsyncEngine:
    return sqlite_engine
