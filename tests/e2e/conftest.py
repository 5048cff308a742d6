from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, make_settings, standard_world, start_harness
from tests.fakes.telegram import TelegramWorld


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    world = TelegramWorld()
    standard_world(world)
    h = await start_harness(make_settings(tmp_path), world)
    try:
        yield h
    finally:
        await h.runtime.stop()
    # Every request of every end-to-end test must exist in the real Bot API.
    assert h.session.conformance_errors == []
