"""The storage contract on PostgreSQL."""

import pytest

from tests.unit.db.repository_contract import RepositoryContract


@pytest.mark.postgres
class TestPostgresRepositories(RepositoryContract):
    pass
