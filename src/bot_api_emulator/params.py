"""Reading Bot API parameters the way Telegram does, whatever the body encoding.

Form and multipart bodies carry every value as a string (aiogram sends nested objects such as
reply_markup as JSON strings); JSON bodies carry typed values. Accessors accept both.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import CHAT_ID_EMPTY, CHAT_NOT_FOUND, INVALID_USER_ID, bad_request


def to_int(value: Any) -> int:
    """Telegram's lenient integer parsing: garbage reads as 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    return text in ("true", "1")


class Params:
    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value != ""

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        if not self.has(name):
            return default
        return to_int(self.raw[name])

    def boolean(self, name: str, default: bool = False) -> bool:
        if not self.has(name):
            return default
        return to_bool(self.raw[name])

    def json_value(self, name: str, what: str) -> Any:
        """A JSON-serialized parameter; `what` names it in Telegram's parse error."""
        if not self.has(name):
            return None
        value = self.raw[name]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {what} JSON object") from None
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        if not self.has(name):
            raise bad_request(CHAT_ID_EMPTY)
        value = self.raw[name]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        try:
            return int(text)
        except ValueError:
            raise bad_request(CHAT_NOT_FOUND) from None

    def user_id(self, name: str = "user_id") -> int:
        user_id = to_int(self.raw.get(name, 0)) if self.has(name) else 0
        if user_id <= 0:
            raise bad_request(INVALID_USER_ID.replace("user_id", name))
        return user_id


def parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    """Fields of a multipart/form-data body (used for methods returned in webhook answers)."""
    boundary = ""
    for part in content_type.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    fields: dict[str, str] = {}
    if not boundary:
        return fields
    for chunk in body.split(b"--" + boundary.encode()):
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        name = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition"):
                for item in line.split(";"):
                    key, _, value = item.strip().partition("=")
                    if key == "name":
                        name = value.strip('"')
        if name is not None:
            fields[name] = content.removesuffix(b"\r\n").decode("utf-8", "replace")
    return fields
