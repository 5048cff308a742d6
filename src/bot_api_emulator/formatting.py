"""Message text as Telegram stores it: parse_mode parsing, trimming, automatic entities."""

from __future__ import annotations

import re
from typing import Any

from .errors import MESSAGE_TEXT_EMPTY, MESSAGE_TOO_LONG, bad_request
from .html_text import parse_html, utf16_len

Entities = list[dict[str, Any]]

_AUTO = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z][A-Za-z0-9_]{3,31})?)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31})"
    r"|(?P<hashtag>(?<![\w#])#[^\W\d_][\w]*)"
    r"|(?P<url>\bhttps?://[^\s<>\"]+|\bt\.me/[^\s<>\"]+)"
)
_MD2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MD2_TOGGLES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}
_TDLIB_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def auto_entities(text: str) -> Entities:
    """Entities Telegram's clients detect in plain text (commands, mentions, hashtags, links)."""
    entities: Entities = []
    for match in _AUTO.finditer(text):
        kind = match.lastgroup or "url"
        entities.append(
            {
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
                "type": kind,
            }
        )
    return entities


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def parse_markdown_v2(text: str) -> tuple[str, Entities]:
    out: list[str] = []
    pos = 0
    stack: list[tuple[str, int, int]] = []  # (kind, utf16 start, char index)
    entities: Entities = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            pos += 1
            i += 2
            continue
        token = text[i : i + 2] if text[i : i + 2] in ("__", "||") else c
        if token in _MD2_TOGGLES:
            kind = _MD2_TOGGLES[token]
            if stack and stack[-1][0] == kind:
                _, start, _ = stack.pop()
                if pos > start:
                    entities.append({"offset": start, "length": pos - start, "type": kind})
            else:
                stack.append((kind, pos, i))
            i += len(token)
            continue
        if c == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end == -1:
                name = "Pre" if len(fence) == 3 else "Code"
                raise bad_request(
                    f"can't parse entities: Can't find end of {name} entity at byte offset "
                    f"{_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            language = ""
            if fence == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            body = re.sub(r"\\([`\\])", r"\1", body)
            entity: dict[str, Any] = {"offset": pos, "length": utf16_len(body)}
            entity["type"] = "pre" if fence == "```" else "code"
            if language:
                entity["language"] = language
            if body:
                entities.append(entity)
            out.append(body)
            pos += utf16_len(body)
            i = end + len(fence)
            continue
        if c == "[":
            stack.append(("text_link", pos, i))
            i += 1
            continue
        if c == "]" and stack and stack[-1][0] == "text_link":
            if i + 1 >= n or text[i + 1] != "(" or text.find(")", i) == -1:
                raise bad_request(
                    f"can't parse entities: Can't find end of TextUrl entity at byte offset "
                    f"{_offset(text, stack[-1][2])}"
                )
            end = text.find(")", i)
            _, start, _ = stack.pop()
            if pos > start:
                url = text[i + 2 : end].replace("\\)", ")")
                entities.append(
                    {"offset": start, "length": pos - start, "type": "text_link", "url": url}
                )
            i = end + 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            line_end = text.find("\n", i)
            line_end = n if line_end == -1 else line_end
            inner, inner_entities = parse_markdown_v2(text[i + 1 : line_end])
            for e in inner_entities:
                e["offset"] += pos
            entities.append({"offset": pos, "length": utf16_len(inner), "type": "blockquote"})
            entities.extend(inner_entities)
            out.append(inner)
            pos += utf16_len(inner)
            i = line_end
            continue
        if c in _MD2_RESERVED:
            raise bad_request(
                f"can't parse entities: Character '{c}' is reserved and must be escaped with "
                "the preceding '\\'"
            )
        out.append(c)
        pos += 2 if ord(c) > 0xFFFF else 1
        i += 1
    if stack:
        kind, _, index = stack[-1]
        raise bad_request(
            f"can't parse entities: Can't find end of {_TDLIB_NAMES[kind]} entity at byte offset "
            f"{_offset(text, index)}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, Entities]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out: list[str] = []
    pos = 0
    entities: Entities = []
    i, n = 0, len(text)
    pairs = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "*_`[":
            out.append(text[i + 1])
            pos += 1
            i += 2
            continue
        fence = "```" if text.startswith("```", i) else c
        if fence in pairs or fence == "```" or c == "[":
            closer = "]" if c == "[" else fence
            end = text.find(closer, i + len(fence))
            if end == -1 or (c == "[" and not text.startswith("(", end + 1)):
                raise bad_request(
                    "can't parse entities: Can't find end of the entity starting at byte offset "
                    f"{_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            entity: dict[str, Any] = {"offset": pos, "length": utf16_len(body)}
            if c == "[":
                url_end = text.find(")", end)
                entity.update(type="text_link", url=text[end + 2 : url_end])
                i = url_end + 1
            else:
                entity["type"] = "pre" if fence == "```" else pairs[fence]
                i = end + len(fence)
            if body:
                entities.append(entity)
            out.append(body)
            pos += utf16_len(body)
            continue
        out.append(c)
        pos += 2 if ord(c) > 0xFFFF else 1
        i += 1
    return "".join(out), entities


def _trim(text: str, entities: Entities) -> tuple[str, Entities]:
    """Telegram strips surrounding whitespace; entities are shifted and clipped to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept: Entities = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append(entity | {"offset": start, "length": end - start})
    return stripped, kept


def format_text(
    text: str, parse_mode: str | None, entities: Entities | None, *, limit: int = 4096
) -> tuple[str, Entities]:
    """What Telegram stores for a bot's text: parsed, trimmed, length-checked."""
    mode = (parse_mode or "").lower()
    if not text:
        raise bad_request(MESSAGE_TEXT_EMPTY)
    if mode in ("", "none"):
        parsed, found = text, list(entities or [])
    elif mode == "html":
        parsed, found = parse_html(text)
    elif mode == "markdownv2":
        parsed, found = parse_markdown_v2(text)
    elif mode == "markdown":
        parsed, found = parse_markdown(text)
    else:
        raise bad_request("unsupported parse_mode")
    parsed, found = _trim(parsed, found)
    if not parsed:
        raise bad_request(MESSAGE_TEXT_EMPTY)
    # Telegram counts characters (code points) here, not UTF-16 units: 4096 emoji pass.
    if len(parsed) > limit:
        raise bad_request(MESSAGE_TOO_LONG)
    # Detected entities are added where the bot's own entities leave room.
    detected = [e for e in auto_entities(parsed) if not _overlaps(e, found)]
    return parsed, sorted(found + detected, key=lambda e: (e["offset"], -e["length"]))


def _overlaps(entity: dict[str, Any], others: Entities) -> bool:
    start, end = entity["offset"], entity["offset"] + entity["length"]
    return any(o["offset"] < end and start < o["offset"] + o["length"] for o in others)
