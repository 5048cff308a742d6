"""The claim-and-lookup contract on fakeredis."""

import pytest

from tests.unit.cache.gate_claims_contract import GateClaimsContract


@pytest.fixture
def namespace() -> str:
    return "t:"


class TestGateClaims(GateClaimsContract):
    pass
