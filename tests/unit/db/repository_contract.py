"""The storage-port contract, written once and run against every backend.

Subclasses (tests/unit/db/test_db_repositories.py for the fake and SQLite,
tests/integration/db/test_db_repositories_postgres.py for PostgreSQL) get a
parametrized ``uow_factory`` fixture from their directory's conftest.
"""

from tests.unit.db.contract_groups import GroupContract
from tests.unit.db.contract_migrate import MigrateContract
from tests.unit.db.contract_protect import ProtectContract
from tests.unit.db.contract_records import RecordContract
from tests.unit.db.contract_transactions import TransactionContract


class RepositoryContract(
    ProtectContract, GroupContract, MigrateContract, RecordContract, TransactionContract
):
    pass
