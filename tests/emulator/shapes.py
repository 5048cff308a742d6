"""Checking an emulator answer against the spec (api.json + overlay) and aiogram's models."""

from __future__ import annotations

from typing import Any

import aiogram.types
from pydantic import BaseModel

from bot_api_emulator.spec import Spec

_MEMBER_BY_STATUS = {
    "creator": "ChatMemberOwner",
    "administrator": "ChatMemberAdministrator",
    "member": "ChatMemberMember",
    "restricted": "ChatMemberRestricted",
    "left": "ChatMemberLeft",
    "kicked": "ChatMemberBanned",
}


def _concrete(spec: Spec, type_name: str, value: dict[str, Any]) -> str:
    """The subtype an abstract type's value is (ChatMember by status, others by fit)."""
    subtypes = spec.subtypes.get(type_name)
    if not subtypes:
        return type_name
    if type_name == "ChatMember":
        return _MEMBER_BY_STATUS[value["status"]]
    if type_name == "MaybeInaccessibleMessage":
        return "InaccessibleMessage" if value.get("date") == 0 else "Message"
    fitting = [s for s in subtypes if not _problems(spec, s, value, "")]
    return fitting[0] if fitting else subtypes[0]


def _problems(spec: Spec, type_name: str, value: Any, where: str) -> list[str]:
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        inner = type_name.removeprefix("Array of ")
        return [p for i, v in enumerate(value) for p in _problems(spec, inner, v, f"{where}[{i}]")]
    if type_name not in spec.types and type_name not in spec.subtypes:
        return []  # a scalar
    if not isinstance(value, dict):
        return [f"{where}: {type_name} is not an object"]
    concrete = _concrete(spec, type_name, value)
    fields = {f["name"]: f for f in spec.types[concrete]}
    found = [f"{where}.{k}: not a field of {concrete}" for k in value if k not in fields]
    found += [
        f"{where}.{name}: required by {concrete}"
        for name, f in fields.items()
        if f["required"] and name not in value
    ]
    for key, item in value.items():
        if key in fields:
            types = fields[key]["types"]
            # A field of several types (e.g. Integer or String) is fine if one fits.
            options = [_problems(spec, t, item, f"{where}.{key}") for t in types]
            if all(options):
                found += options[0]
    return found


def problems(spec: Spec, type_name: str, value: Any) -> list[str]:
    """Fields neither the spec nor the overlay has, required ones missing, and what aiogram's
    model of the (concrete) type refuses."""
    found = _problems(spec, type_name, value, type_name)
    values = value if type_name.startswith("Array of ") else [value]
    inner = type_name.removeprefix("Array of ")
    for item in values:
        model: type[BaseModel] = getattr(aiogram.types, _concrete(spec, inner, item))
        try:
            model.model_validate(item)
        except ValueError as err:
            found.append(f"{inner}: aiogram refuses it: {err}")
    return found
