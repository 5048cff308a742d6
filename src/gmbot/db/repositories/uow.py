"""One AsyncSession per unit of work, with every repository bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.repositories.audit import SqlAuditRepository
from gmbot.db.repositories.groups import SqlGroupRepository
from gmbot.db.repositories.people import (
    SqlBotUserRepository,
    SqlExemptRepository,
    SqlOwnerRepository,
)
from gmbot.db.repositories.restrictions import SqlRestrictionRepository
from gmbot.domain.ports import UnitOfWork, UnitOfWorkFactory


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
            await super().__aexit__(exc_type, exc, tb)
        finally:
            self._session = None
            # Returns the connection to the pool even when the rollback failed.
            await session.close()

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
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
