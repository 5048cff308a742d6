"""The raw-JSON reading of the fast path agrees with aiogram's, and declines
everything it should leave to the routers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiogram.types import Update

from gmbot.bot.translate import incoming
from gmbot.delivery.fast_path import plain_group_message
from tests.unit.delivery.fast_path_shapes import ACCEPTED, DECLINED


@pytest.mark.parametrize("data", ACCEPTED)
def test_reads_the_same_message_as_aiogram(data: dict[str, Any]) -> None:
    parsed = plain_group_message(copy.deepcopy(data))
    assert parsed is not None
    update_id, kind, msg = parsed
    event = Update.model_validate(data)
    expected = incoming(
        event.message or event.edited_message,  # type: ignore[arg-type]
        edited=kind == "edited_message",
    )
    assert (update_id, msg) == (1, expected)


@pytest.mark.parametrize("name", DECLINED)
def test_declines_what_the_routers_must_see(name: str) -> None:
    assert plain_group_message(copy.deepcopy(DECLINED[name])) is None
