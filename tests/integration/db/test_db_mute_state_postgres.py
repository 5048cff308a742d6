"""Mute states and migration 0003 on PostgreSQL."""

import pytest

from tests.unit.db.contract_mute_state import (
    ConcurrentIntentContract,
    MuteStateContract,
    MuteStateMigrationContract,
)


@pytest.mark.postgres
class TestPostgresMuteState(MuteStateContract, ConcurrentIntentContract):
    pass


@pytest.mark.postgres
class TestPostgresMuteStateMigration(MuteStateMigrationContract):
    pass
