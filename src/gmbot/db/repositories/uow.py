"""One AsyncSession per unit of work, with every repository bound to it.

A database that cannot be reached (refused, lost, timed out, restarting) surfaces as
the domain's StoreUnavailable, so the delivery layer answers "retry later" instead of
failing the update for good; a constraint violation or a bad statement is a bug or a
conflict, and stays the SQLAlchemy error it is.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg  # type: ignore[import-untyped]  # no stubs: only its error classes are used
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.repositories.audit import SqlAuditRepository
from gmbot.db.repositories.groups import SqlGroupRepository
from gmbot.db.repositories.managers import SqlManagerRepository
from gmbot.db.repositories.people import (
    SqlBotUserRepository,
    SqlExemptRepository,
    SqlOwnerRepository,
)
from gmbot.db.repositories.restrictions import SqlRestrictionRepository
from gmbot.domain.ports import StoreUnavailable, UnitOfWork, UnitOfWorkFactory

# asyncpg's errors for a server that is gone, going, starting or full; SQLAlchemy wraps
# them in a plain DBAPIError, with the asyncpg error further down the chain.
_ASYNCPG_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,  # class 08: connection failure, does not exist
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.InterfaceError,  # the client side of a connection closed under us
)
# OSError covers refused or reset sockets and DNS failures, TimeoutError (a subclass)
# a connect that got no answer.
_CONNECTION_ERRORS = (sa_exc.InterfaceError, OSError, *_ASYNCPG_CONNECTION_ERRORS)
# SQLite raises OperationalError for a missing table or a syntax error too: of its
# result codes only these say the database could not be used (busy, locked, I/O error,
# full, cannot open). Other drivers' OperationalError is the server gone.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 13, 14})
# Packages whose errors wrap a driver error (StatementError.orig, the asyncpg adapter's
# Error from the asyncpg one), and how deep such wrapping goes at most.
_DRIVER_PACKAGES = frozenset({"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3"})
_MAX_WRAPPING = 4


def connection_failure(exc: BaseException) -> bool:
    """Whether `exc`, or the driver error it wraps, says the database could not be reached.

    Only the drivers' own wrapping is followed: an error of another kind raised from a
    socket error (a Telegram call inside a unit of work, say) is no database failure.
    """
    current: BaseException | None = exc
    for _ in range(_MAX_WRAPPING):
        if current is None or isinstance(current, StoreUnavailable):
            return False  # translated already, by an inner unit of work
        if isinstance(current, _CONNECTION_ERRORS):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError):
            code = getattr(current.orig, "sqlite_errorcode", None)
            return code is None or code & 0xFF in _SQLITE_UNAVAILABLE  # extended codes
        if type(current).__module__.partition(".")[0] not in _DRIVER_PACKAGES:
            return False
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300])


class SqlUnitOfWork(UnitOfWork):
    """Use as ``async with factory() as uow: ...; await uow.commit()``.

    The session (and its connection) exists only inside the ``async with``;
    anything not committed is rolled back on the way out.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("unit of work is already open")
        session = self._session = self._sessions()
        self.groups = SqlGroupRepository(session)
        self.owners = SqlOwnerRepository(session)
        self.users = SqlBotUserRepository(session)
        self.exempt = SqlExemptRepository(session)
        self.managers = SqlManagerRepository(session)
        self.restrictions = SqlRestrictionRepository(session)
        self.audit = SqlAuditRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._require()
        try:
            await super().__aexit__(exc_type, exc, tb)  # the rollback
        except Exception as failed:
            # A rollback failing for the reason the work did: report the work's error.
            cause = exc if exc is not None and connection_failure(exc) else failed
            if connection_failure(cause):
                raise _unavailable(cause) from cause
            raise
        finally:
            self._session = None
            # Returns the connection to the pool even when the rollback failed.
            await session.close()
        if isinstance(exc, Exception) and connection_failure(exc):
            raise _unavailable(exc) from exc

    async def commit(self) -> None:
        await self._require().commit()

    async def rollback(self) -> None:
        await self._require().rollback()

    def _require(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session


class SqlUnitOfWorkFactory(UnitOfWorkFactory):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Rows left in the identity map are reloaded after a commit, so a unit
        # of work that goes on after commit() sees what others committed since.
        # Safe under asyncio: repositories only touch rows inside their own calls.
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=True)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions)

    async def ping(self) -> None:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as failed:
            if connection_failure(failed):
                raise _unavailable(failed) from failed
            raise
