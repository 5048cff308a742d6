"""Migration checks, written once and run on SQLite (unit) and PostgreSQL (integration).

Subclasses get a ``migration_engine`` fixture: an engine on an empty database.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.migrate import alembic_config, downgrade, upgrade
from gmbot.db.tables import metadata

VERSION_TABLE = "alembic_version"


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def table_names(engine: AsyncEngine) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(names)


async def current_revision(engine: AsyncEngine) -> str | None:
    def revision(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(revision)


async def schema_diff(engine: AsyncEngine) -> list[object]:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(diff)


class MigrationContract:
    async def test_upgrade_downgrade_upgrade(self, migration_engine: AsyncEngine) -> None:
        models = set(metadata.tables)

        await upgrade(migration_engine)
        assert await table_names(migration_engine) == models | {VERSION_TABLE}
        assert await current_revision(migration_engine) == head()

        await downgrade(migration_engine, "base")
        assert await table_names(migration_engine) <= {VERSION_TABLE}
        assert await current_revision(migration_engine) is None

        await upgrade(migration_engine, "head")
        assert await table_names(migration_engine) == models | {VERSION_TABLE}
        assert await schema_diff(migration_engine) == []

    async def test_stairway(self, migration_engine: AsyncEngine) -> None:
        # Each revision must downgrade cleanly and upgrade again on top of its
        # predecessor: catches a downgrade that leaves an index or table behind.
        previous: str | None = None
        for revision in revisions_oldest_first():
            await upgrade(migration_engine, revision)
            assert await current_revision(migration_engine) == revision
            await downgrade(migration_engine, "-1")
            assert await current_revision(migration_engine) == previous
            await upgrade(migration_engine, revision)
            previous = revision
        assert previous == head()

    async def test_migrated_schema_matches_the_models(self, migration_engine: AsyncEngine) -> None:
        await upgrade(migration_engine)

        assert await schema_diff(migration_engine) == []
