"""INSERT .. ON CONFLICT for the two dialects GMBot runs on.

PostgreSQL and SQLite (3.24+) share the syntax and SQLAlchemy gives both the
same API, so concurrent writers of one row (two instances muting the same user)
never race into a duplicate-key error. Both branches are exercised: SQLite by
the unit tests, PostgreSQL by the integration tests.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.tables import Base


def insert_for(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")
