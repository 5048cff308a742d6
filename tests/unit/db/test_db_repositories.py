"""The storage contract on the in-memory fake and on SQLite."""

from tests.unit.db.repository_contract import RepositoryContract


class TestRepositories(RepositoryContract):
    pass
