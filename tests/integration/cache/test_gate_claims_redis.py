"""The claim-and-lookup contract on a real Redis."""

import pytest

from tests.unit.cache.gate_claims_contract import GateClaimsContract


@pytest.mark.redis
class TestRedisGateClaims(GateClaimsContract):
    pass
