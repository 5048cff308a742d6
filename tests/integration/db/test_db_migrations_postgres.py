"""Alembic stairway and schema comparison on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.engine import create_engine
from gmbot.db.migrate import upgrade
from tests.unit.db.migration_contract import (
    MigrationContract,
    current_revision,
    head,
    schema_diff,
)


@pytest.mark.postgres
class TestPostgresMigrations(MigrationContract):
    pass


@pytest.mark.postgres
async def test_instances_upgrading_at_once_take_turns(
    migration_engine: AsyncEngine, postgres_url: str
) -> None:
    # Several instances booting together all run upgrade(): none may fail
    # on a table another one is creating.
    engines = [
        create_engine(postgres_url, pool_size=1, max_overflow=0, application_name=f"boot-{i}")
        for i in range(4)
    ]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()

    assert await current_revision(migration_engine) == head()
    assert await schema_diff(migration_engine) == []
