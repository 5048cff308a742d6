"""The marks every fault scenario carries (each module sets `pytestmark = FAULTS`).

Every scenario runs on the session's event loop, where the session-scoped services and the
cluster live. It is bounded well under its timeout: a scenario takes under a minute.
"""

from __future__ import annotations

import pytest

FAULTS = [
    pytest.mark.faults,
    pytest.mark.subprocess,
    pytest.mark.nginx,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(180),
]
