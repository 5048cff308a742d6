"""`tg`: the same Telegram world in each model, for checks that must hold in all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.emulator_model import EmulatorModel
from tests.contract.fake_model import FakeModel
from tests.contract.models import TelegramModel, TransportModel
from tests.contract.session_model import SessionModel


async def _open(name: str) -> TelegramModel:
    if name == "fake":
        return FakeModel()
    if name == "session":
        return SessionModel()
    return await EmulatorModel.start_server()


@pytest.fixture(params=["fake", "session", "emulator"])
async def tg(request: pytest.FixtureRequest) -> AsyncIterator[TelegramModel]:
    model = await _open(request.param)
    yield model
    await model.close()


@pytest.fixture(params=["session", "emulator"])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[TransportModel]:
    """The models behind the real AiogramGateway, where faults are Bot API answers."""
    model = await _open(request.param)
    assert isinstance(model, TransportModel)
    yield model
    await model.close()
