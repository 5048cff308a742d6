"""Mute states on the in-memory fake and SQLite; migration 0003 on SQLite."""

from tests.unit.db.contract_mute_state import (
    ConcurrentIntentContract,
    MuteStateContract,
    MuteStateMigrationContract,
)


class TestMuteState(MuteStateContract, ConcurrentIntentContract):
    pass


class TestSqliteMuteStateMigration(MuteStateMigrationContract):
    pass
