"""Telegram's HTML parse mode: tags become entities, errors carry Telegram's wording.

Bots that interpolate user names into HTML without escaping them fail on Telegram with
"can't parse entities"; reproducing that here catches the bug before production does.
"""

from __future__ import annotations

import re
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
_SUPPORTED = set(_SIMPLE) | {"a", "span", "tg-emoji", "tg-time"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_TIME_FORMAT = re.compile(r"r|w?[dD]?[tT]?")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fail(text: str, index: int, message: str) -> ApiError:
    offset = len(text[:index].encode())
    return bad_request(f"can't parse entities: {message.format(offset=offset)}")


def _entity(name: str) -> str | None:
    """The character of ``&name;``: one of the four named entities or a valid code point."""
    if name in _NAMED:
        return _NAMED[name]
    if not name.startswith("#"):
        return None
    code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _entity_at(text: str, i: int) -> tuple[str, int] | None:
    """The character an entity at ``text[i] == '&'`` stands for and the index past it."""
    match = _ENTITY.match(text, i)
    decoded = _entity(match.group(1)) if match else None
    if match is None or decoded is None:
        return None
    return decoded, match.end()


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
        if value[i] == "&" and (found := _entity_at(value, i)) is not None:
            out.append(found[0])
            i = found[1]
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _check_attrs(text: str, i: int, name: str, attrs: dict[str, str]) -> None:
    """The attributes the documented tags require (span's class, tg-emoji's and tg-time's)."""
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _fail(text, i, 'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise _fail(text, i, "Invalid custom emoji identifier specified at byte offset {offset}")
    if name == "tg-time":
        if not attrs.get("unix", "").isdigit():
            raise _fail(text, i, "Invalid Unix time specified at byte offset {offset}")
        if _TIME_FORMAT.fullmatch(attrs.get("format", "")) is None:
            raise _fail(text, i, "Invalid date-time format specified at byte offset {offset}")


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
    elif item.tag == "tg-time":
        entity.update(type="date_time", unix_time=int(item.attrs["unix"]))
        if item.attrs.get("format"):
            entity["date_time_format"] = item.attrs["format"]
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
            # The Bot API documents that every '&' outside an entity must be written &amp;,
            # and that only &lt; &gt; &amp; &quot; and numeric entities exist.
            found = _entity_at(text, i)
            if found is None:
                raise _fail(text, i, "Character '&' at byte offset {offset} must be escaped")
            out.append(found[0])
            pos += utf16_len(found[0])
            i = found[1]
            continue
        if c == ">":
            raise _fail(text, i, "Character '>' at byte offset {offset} must be escaped")
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
        _check_attrs(text, i, name, attrs)
        stack.append(_Open(name, pos, attrs))
        i = close + 1
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1].tag}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
