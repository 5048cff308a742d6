"""The SQL unit of work: a database that cannot be reached is StoreUnavailable; a bad
statement or a constraint violation stays the SQLAlchemy error it is."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.engine import create_engine
from gmbot.db.migrate import upgrade
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.db.repositories.uow import connection_failure
from gmbot.domain.ports import StoreUnavailable
from gmbot.domain.telegram import TelegramUnavailable

CHAT = -1001


def engine_for(path: Path) -> AsyncEngine:
    return create_engine(
        f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0, application_name="t"
    )


@pytest.fixture
async def migrated(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    path = tmp_path / "gmbot.db"
    engine = engine_for(path)
    await upgrade(engine)
    try:
        yield engine, path
    finally:
        await engine.dispose()


async def test_an_unopenable_database_is_store_unavailable_until_it_is_back(
    migrated: tuple[AsyncEngine, Path],
) -> None:
    engine, path = migrated
    uow = SqlUnitOfWorkFactory(engine)
    await engine.dispose()  # the pooled connection goes: the next one opens the file
    moved = path.rename(path.with_suffix(".away"))
    path.mkdir()  # where the file was, nothing SQLite can open (even as root)
    with pytest.raises(StoreUnavailable) as raised:
        async with uow() as u:
            await u.groups.get(CHAT)
    assert isinstance(raised.value.__cause__, sa_exc.OperationalError)
    with pytest.raises(StoreUnavailable):
        await uow.ping()

    path.rmdir()
    moved.rename(path)
    await uow.ping()
    async with uow() as u:
        assert await u.groups.get(CHAT) is None


async def test_a_missing_table_stays_a_programming_error(tmp_path: Path) -> None:
    engine = engine_for(tmp_path / "empty.db")  # never migrated
    try:
        uow = SqlUnitOfWorkFactory(engine)
        await uow.ping()  # the database itself is there
        with pytest.raises(sa_exc.OperationalError, match="no such table"):
            async with uow() as u:
                await u.groups.get(CHAT)
    finally:
        await engine.dispose()


async def test_an_unreachable_postgresql_is_store_unavailable() -> None:
    # Port 1 on loopback: connection refused at once, no server needed.
    engine = create_engine(
        "postgresql+asyncpg://gmbot@127.0.0.1:1/gmbot",
        pool_size=1,
        max_overflow=0,
        application_name="t",
    )
    try:
        uow = SqlUnitOfWorkFactory(engine)
        with pytest.raises(StoreUnavailable, match="ConnectionRefusedError"):
            await uow.ping()
        with pytest.raises(StoreUnavailable):
            async with uow() as u:
                await u.groups.get(CHAT)
    finally:
        await engine.dispose()


def wrapped(orig: BaseException, cls: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> BaseException:
    return cls("SELECT 1", None, orig)


def sqlite_error(cls: type[sqlite3.Error], code: int, message: str) -> sqlite3.Error:
    error = cls(message)
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),  # asyncpg's connect timing out
        (wrapped(asyncpg.CannotConnectNowError("starting up")), True),
        (wrapped(asyncpg.TooManyConnectionsError("too many")), True),
        (wrapped(asyncpg.ConnectionDoesNotExistError("gone")), True),
        (wrapped(asyncpg.InterfaceError("connection is closed"), sa_exc.InterfaceError), True),
        (
            wrapped(
                sqlite_error(sqlite3.OperationalError, 14, "cannot open"), sa_exc.OperationalError
            ),
            True,
        ),
        (
            wrapped(
                sqlite_error(sqlite3.OperationalError, 5, "database is locked"),
                sa_exc.OperationalError,
            ),
            True,
        ),
        (
            wrapped(
                sqlite_error(sqlite3.OperationalError, 1, "no such table"), sa_exc.OperationalError
            ),
            False,
        ),
        (wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), sa_exc.IntegrityError), False),
        (wrapped(asyncpg.UniqueViolationError("duplicate key"), sa_exc.IntegrityError), False),
        (wrapped(asyncpg.PostgresSyntaxError("syntax"), sa_exc.ProgrammingError), False),
        (StoreUnavailable("translated already"), False),
        (RuntimeError("a bug"), False),
    ],
    ids=repr,
)
def test_what_counts_as_unreachable(error: BaseException, unreachable: bool) -> None:
    assert connection_failure(error) is unreachable


def test_an_invalidated_connection_is_unreachable_whatever_the_driver_said() -> None:
    error = sa_exc.DBAPIError(
        "SELECT 1", None, Exception("server closed"), connection_invalidated=True
    )
    assert connection_failure(error)


def test_another_kind_of_error_raised_from_a_socket_error_is_no_database_failure() -> None:
    # A Telegram call inside a unit of work failing is Telegram's failure, not ours.
    error = TelegramUnavailable("Telegram down")
    error.__cause__ = ConnectionResetError("reset by peer")
    assert not connection_failure(error)
