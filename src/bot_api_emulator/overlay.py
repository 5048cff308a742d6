"""What the installed aiogram requires of Telegram's answers that the vendored api.json lacks.

aiogram speaks a newer Bot API than the bundled spec, and its models refuse an answer without
a field they require. data/overlay.json lists those fields in api.json's shape; `apply` adds
them to a spec as it is loaded, and the serializers emit them (see permissions.py).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

BUNDLED_OVERLAY = Path(__file__).resolve().parent / "data" / "overlay.json"


@cache
def _load(path: Path) -> dict[str, list[dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: list(t["fields"]) for name, t in data["types"].items()}


def overlay_fields(path: Path = BUNDLED_OVERLAY) -> dict[str, list[dict[str, Any]]]:
    """Type name -> the fields the overlay adds to it."""
    return copy.deepcopy(_load(path))


def added_field_names(type_name: str) -> tuple[str, ...]:
    return tuple(f["name"] for f in _load(BUNDLED_OVERLAY).get(type_name, []))


def apply(
    types: dict[str, list[dict[str, Any]]], path: Path = BUNDLED_OVERLAY
) -> dict[str, list[dict[str, Any]]]:
    """api.json's type -> fields mapping with the overlay's fields added (the input is not
    changed). A field the spec already has stays as the spec says: a newer spec wins."""
    merged = dict(types)
    for name, fields in _load(path).items():
        present = {f["name"] for f in merged.get(name, [])}
        merged[name] = [*merged.get(name, []), *(f for f in fields if f["name"] not in present)]
    return merged
