"""Telegram's HTML parse mode: tags become entities, errors carry Telegram's wording.

Bots that interpolate user names into HTML without escaping them fail on Telegram with
"can't parse entities"; reproducing that here catches the bug before production does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SUPPORTED = set(_SIMPLE) | {"a", "span", "tg-emoji"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fail(text: str, index: int, message: str) -> ApiError:
    offset = len(text[:index].encode())
    return bad_request(f"can't parse entities: {message.format(offset=offset)}")


def _entity(name: str) -> str | None:
    if name in _NAMED:
        return _NAMED[name]
    try:
        if name.startswith(("#x", "#X")):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
    except (ValueError, OverflowError):
        return None
    return None


@dataclass(slots=True)
class _Open:
    tag: str
    start: int
    attrs: dict[str, str] = field(default_factory=dict)


def _parse_attrs(text: str, j: int) -> tuple[dict[str, str], int]:
    """Attributes of a start tag beginning at `j`; returns them and the index of '>' (-1 if none).

    A bare attribute (``<blockquote expandable>``) gets an empty value.
    """
    attrs: dict[str, str] = {}
    n = len(text)
    while j < n:
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            break
        if text[j] == ">":
            return attrs, j
        k = j
        while k < n and (text[k].isalnum() or text[k] in "-_"):
            k += 1
        if k == j:
            return attrs, -1
        name = text[j:k].lower()
        if k >= n or text[k] != "=":
            attrs[name] = ""
            j = k
            continue
        k += 1
        if k < n and text[k] in "\"'":
            end = text.find(text[k], k + 1)
            if end == -1:
                return attrs, -1
            value, j = text[k + 1 : end], end + 1
        else:
            end = k
            while end < n and not text[end].isspace() and text[end] != ">":
                end += 1
            value, j = text[k:end], end
        attrs[name] = _unescape(value)
    return attrs, -1


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            end = value.find(";", i)
            decoded = _entity(value[i + 1 : end]) if 0 < end - i <= 10 else None
            if decoded is not None:
                out.append(decoded)
                i = end + 1
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _make_entity(item: _Open, end: int, entities: list[dict[str, Any]]) -> None:
    length = end - item.start
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": item.start, "length": length}
    if item.tag == "a":
        href = item.attrs.get("href")
        if not href:
            return
        entity.update(type="text_link", url=href)
    elif item.tag == "span":
        if item.attrs.get("class") != "tg-spoiler":
            return
        entity["type"] = "spoiler"
    elif item.tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=item.attrs.get("emoji-id", ""))
    elif item.tag == "blockquote" and "expandable" in item.attrs:
        entity["type"] = "expandable_blockquote"
    else:
        entity["type"] = _SIMPLE[item.tag]
        language = item.attrs.get("class", "")
        if item.tag == "code" and language.startswith("language-"):
            # <pre><code class="language-x"> marks the language of the enclosing pre.
            for other in reversed(entities):
                if other["type"] == "pre" and other["offset"] <= item.start:
                    other["language"] = language[len("language-") :]
                    return
            entity["type"] = "code"
    entities.append(entity)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    pos = 0  # UTF-16 length of `out`
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            end = text.find(";", i)
            decoded = _entity(text[i + 1 : end]) if 0 < end - i <= 10 else None
            if decoded is not None:
                out.append(decoded)
                pos += utf16_len(decoded)
                i = end + 1
                continue
        if c != "<":
            out.append(c)
            pos += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "/":
            end = text.find(">", i)
            if end == -1:
                raise _fail(text, i, "Unclosed end tag at byte offset {offset}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise _fail(text, i, "Unexpected end tag at byte offset {offset}")
            top = stack.pop()
            if name != top.tag:
                raise _fail(
                    text,
                    i,
                    f'Unmatched end tag at byte offset {{offset}}, expected "</{top.tag}>", '
                    f'found "</{name}>"',
                )
            pending: list[dict[str, Any]] = []
            _make_entity(top, pos, pending)
            entities.extend(pending)
            i = end + 1
            continue
        j = i + 1
        while j < n and (text[j].isalnum() or text[j] == "-"):
            j += 1
        name = text[i + 1 : j].lower()
        if name not in _SUPPORTED:
            raise _fail(text, i, f'Unsupported start tag "{name}" at byte offset {{offset}}')
        attrs, close = _parse_attrs(text, j)
        if close < 0:
            raise _fail(text, i, "Unclosed start tag at byte offset {offset}")
        stack.append(_Open(name, pos, attrs))
        i = close + 1
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1].tag}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
