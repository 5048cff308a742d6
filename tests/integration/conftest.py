"""Shared fixtures for the integration suites (real services on 127.0.0.1).

postgres_url
    Session-scoped. A ``postgresql+asyncpg://`` URL of a fresh, empty database
    created for this test session (named ``gmbot_test_<random>``) and dropped
    WITH (FORCE) when the session ends. The server is taken from
    TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test),
    whose user must be allowed to CREATE DATABASE. If the server is unreachable
    every test using the fixture fails with a message saying so: these tests run
    only under ``make test-integration``, where PostgreSQL must be up. Tests that
    need tables run ``gmbot.db.migrate.upgrade`` themselves; tests sharing the
    database clean up after themselves or reset what they use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gmbot.db.engine import async_url

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_url() -> AsyncIterator[str]:
    admin_url = async_url(POSTGRES_ADMIN_URL)
    name = f"gmbot_test_{uuid.uuid4().hex[:12]}"
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    admin = create_async_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )
    error: Exception | None = None
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except (OSError, DBAPIError) as exc:
        error = exc
    if error is not None:
        await admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {admin_url.render_as_string()} ({error!r}). "
            "The postgres tests need a running server (make test-integration); "
            "start it or point TEST_POSTGRES_URL at one.",
            pytrace=False,
        )
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
