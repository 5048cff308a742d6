"""data/overlay.json: exactly what the installed aiogram requires beyond the vendored spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiogram.types

from bot_api_emulator import overlay
from bot_api_emulator.permissions import admin_right_names
from bot_api_emulator.spec import BUNDLED_SPEC, Spec


def _vendored_types() -> dict[str, Any]:
    types: dict[str, Any] = json.loads(Path(BUNDLED_SPEC).read_text())["types"]
    return types


def _aiogram_fields(type_name: str, *, required: bool) -> set[str]:
    model = getattr(aiogram.types, type_name, None)
    if model is None or not hasattr(model, "model_fields"):
        return set()
    return {
        info.alias or name
        for name, info in model.model_fields.items()
        if info.is_required() or not required
    }


def test_every_overlay_field_is_needed() -> None:
    vendored = _vendored_types()
    for type_name, fields in overlay.overlay_fields().items():
        have = {f["name"] for f in vendored[type_name].get("fields", [])}
        for field in fields:
            # Stale once the vendored spec has it; wrong if aiogram does not know it.
            assert field["name"] not in have, (type_name, field["name"])
            assert field["name"] in _aiogram_fields(type_name, required=False)


def test_every_field_aiogram_requires_is_in_the_spec_or_the_overlay() -> None:
    spec = Spec.load(BUNDLED_SPEC)
    missing = {
        (type_name, name)
        for type_name, fields in spec.types.items()
        if type_name not in spec.subtypes  # abstract: its subtypes carry the fields
        for name in _aiogram_fields(type_name, required=True) - {f["name"] for f in fields}
    }
    assert missing == set()


def test_the_spec_is_loaded_with_the_overlay() -> None:
    fields = Spec.load(BUNDLED_SPEC).types["ChatMemberAdministrator"]
    welcome = [f for f in fields if f["name"] == "can_send_welcome_messages"]
    assert [f["required"] for f in welcome] == [True]
    # The emulator emits it for every administrator.
    assert "can_send_welcome_messages" in admin_right_names("supergroup", False)
    assert "can_send_welcome_messages" in admin_right_names("channel", False)


def test_a_newer_spec_wins_over_the_overlay() -> None:
    newer = {"name": "can_send_welcome_messages", "types": ["Boolean"], "required": False}
    merged = overlay.apply({"ChatMemberAdministrator": [newer]})
    assert merged["ChatMemberAdministrator"] == [newer]
    untouched: dict[str, list[dict[str, Any]]] = {"ChatMemberAdministrator": []}
    overlay.apply(untouched)
    assert untouched == {"ChatMemberAdministrator": []}
