"""The official Bot API method list (the api.json bundled with the emulator package), used
to check that every method and parameter the bot sends exists in the real API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot_api_emulator import BUNDLED_SPEC

DEFAULT_PATH = BUNDLED_SPEC


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: frozenset[str]
    required: frozenset[str]


def spec_path() -> Path:
    return Path(os.environ.get("GMBOT_API_SPEC", DEFAULT_PATH))


@cache
def load_spec() -> dict[str, MethodSpec]:
    path = spec_path()
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
    """The spec; a test fails (never skips) when the file named by GMBOT_API_SPEC is absent."""
    if not spec_path().is_file():
        pytest.fail(f"Bot API spec not found at {spec_path()} (GMBOT_API_SPEC)")
    return load_spec()


def violations(method: str, params: dict[str, Any]) -> list[str]:
    """What is wrong with one request, against the spec."""
    spec = load_spec()
    m = spec.get(method.lower())
    if m is None:
        return [f"{method}: no such Bot API method"]
    problems = [f"{method}: unknown parameter {p!r}" for p in params if p not in m.params]
    problems += [f"{method}: missing required {p!r}" for p in m.required if p not in params]
    return problems
