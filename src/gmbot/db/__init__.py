"""Persistence: SQLModel tables, the async engine, Alembic migrations and the
SQL implementations of the storage ports.

    engine = create_engine(url, pool_size=..., max_overflow=..., application_name=...)
    await upgrade(engine)
    uow_factory = SqlUnitOfWorkFactory(engine)
"""

from gmbot.db.engine import create_engine, pool_status
from gmbot.db.migrate import downgrade, upgrade
from gmbot.db.repositories import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "create_engine",
    "downgrade",
    "pool_status",
    "upgrade",
]
