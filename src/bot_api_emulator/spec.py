"""Checking bot requests against the official method list (api.json).

A missing required parameter is refused as Telegram refuses it; unknown parameters and values
of the wrong type are accepted (Telegram ignores or coerces them) but recorded as conformance
errors so tests can assert the bot speaks the API exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import overlay
from .errors import (
    CHAT_ID_EMPTY,
    INVALID_USER_ID,
    MESSAGE_ID_NOT_SPECIFIED,
    MESSAGE_TEXT_EMPTY,
    QUERY_ID_INVALID,
    ApiError,
    bad_request,
)

# What Telegram answers when these parameters are missing (its specific wording).
_MISSING_TEXT = {
    "chat_id": CHAT_ID_EMPTY,
    "user_id": INVALID_USER_ID,
    "text": MESSAGE_TEXT_EMPTY,
    "message_id": MESSAGE_ID_NOT_SPECIFIED,
    "callback_query_id": QUERY_ID_INVALID,
}
# Required in the schema, but Telegram acts on their absence instead of refusing
# (setWebhook without url deletes the webhook).
_NOT_ENFORCED = {("setwebhook", "url")}
# The Bot API method and type list shipped with this package (MIT, see data/LICENSE).
BUNDLED_SPEC = Path(__file__).resolve().parent / "data" / "api.json"
_INT_RE = re.compile(r"^-?\d+$")
_SCALARS = {"Integer", "String", "Boolean", "Float", "InputFile"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True, slots=True)
class Issue:
    parameter: str
    # missing_required | unknown_parameter | wrong_type | unknown_method | unsupported_method
    problem: str
    detail: str


class Spec:
    def __init__(self, data: dict[str, Any]) -> None:
        self.version = str(data.get("version", ""))
        self.methods: dict[str, dict[str, FieldSpec]] = {}
        self.names: dict[str, str] = {}
        for name, method in data["methods"].items():
            fields = {
                f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]))
                for f in method.get("fields", [])
            }
            self.methods[name.lower()] = fields
            self.names[name.lower()] = name
        # Object types with their fields, and what the installed aiogram needs beyond them.
        self.types: dict[str, list[dict[str, Any]]] = overlay.apply(
            {name: t.get("fields", []) for name, t in data["types"].items()}
        )
        self.subtypes: dict[str, tuple[str, ...]] = {
            name: tuple(t["subtypes"]) for name, t in data["types"].items() if t.get("subtypes")
        }

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def check(self, method: str, params: dict[str, Any]) -> tuple[list[Issue], ApiError | None]:
        """Issues found in a call and, if a required parameter is missing, the error to answer."""
        fields = self.methods.get(method)
        if fields is None:
            return [Issue("", "unknown_method", f"{method} is not a Bot API method")], None
        issues: list[Issue] = []
        error: ApiError | None = None
        for name, field in fields.items():
            value = params.get(name)
            if field.required and (value is None or value == ""):
                issues.append(Issue(name, "missing_required", f"{name} is required"))
                if error is None and (method, name) not in _NOT_ENFORCED:
                    error = bad_request(_MISSING_TEXT.get(name, f'parameter "{name}" is required'))
        for name, value in params.items():
            known = fields.get(name)
            if known is None:
                issues.append(
                    Issue(
                        name,
                        "unknown_parameter",
                        f"{name} is not a parameter of {self.names[method]}",
                    )
                )
            elif value is not None and not _matches(known.types, value):
                issues.append(
                    Issue(name, "wrong_type", f"{value!r} is not {' or '.join(known.types)}")
                )
        return issues, error

    def decode(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters with JSON strings, integers and booleans turned into values (for display)."""
        fields = self.methods.get(method, {})
        return {
            k: decode_value(fields[k].types if k in fields else None, v) for k, v in params.items()
        }


def _matches(types: tuple[str, ...], value: Any) -> bool:
    return any(_matches_one(t, value) for t in types)


def _matches_one(kind: str, value: Any) -> bool:
    if kind == "Integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, str) and bool(_INT_RE.match(value)))
    if kind == "Boolean":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false", "1", "0")
        )
    if kind == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return True
    if kind in ("String", "InputFile"):
        return not isinstance(value, dict | list)
    # JSON-serialized object or array.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if kind.startswith("Array of"):
        return isinstance(value, list)
    return isinstance(value, dict)


def decode_value(types: tuple[str, ...] | None, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if types is None:
        # No schema entry: decode what clearly is JSON, numbers and booleans.
        if value[:1] in ("{", "[") or value in ("true", "false") or _INT_RE.match(value):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if "String" in types and not _INT_RE.match(value):
        return value
    if "Integer" in types and _INT_RE.match(value):
        return int(value)
    if "Boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if any(t not in _SCALARS for t in types):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
