"""The fast path's field tables follow the Bot API's own description (the bundled api.json)."""

from __future__ import annotations

import json

import pytest

from bot_api_emulator import BUNDLED_SPEC
from gmbot.delivery.update_shapes import CHAT_FIELDS, MESSAGE_FIELDS, USER_FIELDS

JSON_TYPES = {"Integer": int, "String": str, "Boolean": bool, "True": bool, "Float": float}


def documented(type_name: str) -> dict[str, type]:
    spec = json.loads(BUNDLED_SPEC.read_text(encoding="utf-8"))
    fields = spec["types"][type_name]["fields"]
    out: dict[str, type] = {}
    for field in fields:
        [kind] = field["types"]  # every field of these three has one type
        out[field["name"]] = list if kind.startswith("Array of") else JSON_TYPES.get(kind, dict)
    return out


@pytest.mark.parametrize(
    ("type_name", "table"),
    [("Message", MESSAGE_FIELDS), ("User", USER_FIELDS), ("Chat", CHAT_FIELDS)],
)
def test_every_field_and_its_json_type_is_the_documented_one(
    type_name: str, table: dict[str, type]
) -> None:
    assert dict(table) == documented(type_name)
