"""Run the packaged Alembic migrations on an application engine.

No alembic.ini and no working directory are involved: the scripts are found
next to this module, and the engine's connection is handed to env.py through
config.attributes["connection"].
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key ("gmbot" in ASCII): instances starting together
# take turns, and the later ones find the schema already at head.
_PG_MIGRATION_LOCK = 0x676D626F74


def alembic_config() -> Config:
    """A Config for the migrations shipped inside the gmbot package."""
    config = Config()
    # ConfigParser interpolates "%": escape it in case the install path has one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, command.downgrade, revision)


async def _run(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()

    def in_sync_context(connection: Connection) -> None:
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Taking the lock opens the transaction Alembic then runs in: one
            # for the whole run, so a failed upgrade leaves nothing half-done.
            await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            await connection.run_sync(in_sync_context)
            await connection.commit()
            return
        # SQLite: batch mode rebuilds a table by copy, DROP and rename; with
        # foreign keys enforced that DROP would cascade into the child rows. The
        # pragma is ignored inside a transaction, so it is set before one.
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.commit()
        try:
            await connection.run_sync(in_sync_context)
            await connection.commit()
        finally:
            await connection.rollback()
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            await connection.commit()
