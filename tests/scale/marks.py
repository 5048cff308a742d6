"""The marks every test of a cluster carries (each module sets `pytestmark` to one of them).

Every test runs on the session's event loop, where the session-scoped services and the
webhook cluster live.
"""

from __future__ import annotations

import pytest

_SERVICES = [
    pytest.mark.scale,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.subprocess,
    pytest.mark.asyncio(loop_scope="session"),
]

WEBHOOK_CLUSTER = [*_SERVICES, pytest.mark.nginx, pytest.mark.timeout(240)]
POLLING_CLUSTER = [*_SERVICES, pytest.mark.timeout(180)]
