"""The official Bot API method list (../shared/telegram-bot-api/api.json), used to
check that every method and parameter the bot sends exists in the real API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATH = Path(__file__).resolve().parents[2].parent / "shared/telegram-bot-api/api.json"


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: frozenset[str]
    required: frozenset[str]


def spec_path() -> Path:
    return Path(os.environ.get("GMBOT_API_SPEC", DEFAULT_PATH))


@cache
def load_spec() -> dict[str, MethodSpec] | None:
    path = spec_path()
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    out = {}
    for name, method in data["methods"].items():
        fields = method.get("fields") or []
        out[name.lower()] = MethodSpec(
            name,
            frozenset(f["name"] for f in fields),
            frozenset(f["name"] for f in fields if f.get("required")),
        )
    return out


def require_spec() -> dict[str, MethodSpec]:
    """The spec, or skip (fail in CI, where GMBOT_REQUIRE_API_SPEC=1) when it is absent."""
    spec = load_spec()
    if spec is None:
        reason = f"Bot API spec not found at {spec_path()} (set GMBOT_API_SPEC)"
        if os.environ.get("GMBOT_REQUIRE_API_SPEC") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return spec


def violations(method: str, params: dict[str, Any]) -> list[str]:
    """What is wrong with one request, against the spec (empty without a spec)."""
    spec = load_spec()
    if spec is None:
        return []
    m = spec.get(method.lower())
    if m is None:
        return [f"{method}: no such Bot API method"]
    problems = [f"{method}: unknown parameter {p!r}" for p in params if p not in m.params]
    problems += [f"{method}: missing required {p!r}" for p in m.required if p not in params]
    return problems
