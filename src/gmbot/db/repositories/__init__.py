"""SQL implementations of the storage ports in gmbot.domain.ports."""

from gmbot.db.repositories.audit import SqlAuditRepository
from gmbot.db.repositories.groups import SqlGroupRepository
from gmbot.db.repositories.people import (
    SqlBotUserRepository,
    SqlExemptRepository,
    SqlOwnerRepository,
)
from gmbot.db.repositories.restrictions import SqlRestrictionRepository
from gmbot.db.repositories.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "SqlAuditRepository",
    "SqlBotUserRepository",
    "SqlExemptRepository",
    "SqlGroupRepository",
    "SqlOwnerRepository",
    "SqlRestrictionRepository",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
]
