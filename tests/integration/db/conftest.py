"""PostgreSQL backends for the db contract suites (see tests/integration/conftest.py).

uow_factory
    The session database migrated to head, every table emptied before the test.
migration_engine
    The session database with its public schema dropped and recreated: empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.engine import create_engine
from gmbot.db.migrate import upgrade
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.db.tables import metadata
from gmbot.domain.ports import UnitOfWorkFactory


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        postgres_url, pool_size=5, max_overflow=5, application_name="gmbot-db-tests"
    )
    yield engine
    await engine.dispose()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
async def uow_factory(postgres_engine: AsyncEngine) -> UnitOfWorkFactory:
    await upgrade(postgres_engine)
    tables = ", ".join(metadata.tables)
    async with postgres_engine.begin() as connection:
        await connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return SqlUnitOfWorkFactory(postgres_engine)


@pytest.fixture
async def migration_engine(postgres_engine: AsyncEngine) -> AsyncEngine:
    async with postgres_engine.begin() as connection:
        await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        await connection.exec_driver_sql("CREATE SCHEMA public")
    return postgres_engine
