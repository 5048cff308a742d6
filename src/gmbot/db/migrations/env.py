"""Alembic environment for GMBot.

The connection comes from, in order: config.attributes["connection"] (how
gmbot.db.migrate runs it, inside the caller's engine), else DATABASE_URL, else
a local SQLite file. SQLite cannot ALTER most things, so operations there are
rendered and run in batch mode (copy the table, swap it in).
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine

from gmbot.db.engine import async_url
from gmbot.db.tables import metadata

DEFAULT_URL = "sqlite+aiosqlite:///./gmbot.db"

config = context.config
# The CLI configures logging from alembic.ini; a caller (a test) may opt out,
# and loggers that already exist are left alone either way.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> URL:
    return async_url(os.environ.get("DATABASE_URL") or DEFAULT_URL)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: URL) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def _migrate_offline(url: URL) -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        # Already inside the caller's event loop (via AsyncConnection.run_sync).
        _migrate(connection)
    elif context.is_offline_mode():
        _migrate_offline(_database_url())
    else:
        asyncio.run(_migrate_url(_database_url()))


main()
