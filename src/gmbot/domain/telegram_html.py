"""Telegram's rules for a message text sent with parse_mode HTML, and for callback data.

The rules are the Bot API's documented ones (https://core.telegram.org/bots/api#html-style):

- only the tags b, strong, i, em, u, ins, s, strike, del, span class="tg-spoiler",
  tg-spoiler, a, tg-emoji emoji-id, tg-time unix [format], code, pre and blockquote
  [expandable] are supported, each closed in order;
- every ``<``, ``>`` and ``&`` that is not part of a tag or an entity is escaped;
- numeric entities and the named entities ``&lt; &gt; &amp; &quot;`` only;
- the text, once parsed and stripped of surrounding whitespace, is 1 to 4096 characters
  long. Telegram counts Unicode code points here (a live check: 4096 emoji are accepted,
  4097 refused), while entity offsets are in UTF-16 code units.

Callback data is 1 to 64 bytes of UTF-8.

Pure standard library: this module is in the domain layer and is shared by the tests that
check every text the bot sends.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_TEXT",
    "SUPPORTED_TAGS",
    "callback_data_problem",
    "html_problem",
]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200  # characters of an answerCallbackQuery text (plain text)
SUPPORTED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9a-fA-F]+)|([A-Za-z][A-Za-z0-9]*));")
_START = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")
_END = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")
_ATTR = re.compile(r"""\s+([A-Za-z][A-Za-z0-9_-]*)(?:=(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+)))?""")
_TAG_END = re.compile(r"\s*>")
_TIME_FORMAT = re.compile(r"r|w?[dD]?[tT]?")


class _Problem(Exception):
    pass


def _entity_at(text: str, i: int, *, in_attribute: bool) -> tuple[str, int]:
    """The character an entity starting at ``text[i] == '&'`` stands for, and its end."""
    match = _ENTITY.match(text, i)
    if match is None:
        if in_attribute:
            return "&", i + 1
        raise _Problem(f"unescaped & at position {i} (write &amp;)")
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in _NAMED:
            raise _Problem(
                f"unsupported entity &{name}; at position {i} "
                "(only &lt; &gt; &amp; &quot; and numeric ones)"
            )
        return _NAMED[name], match.end()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _Problem(f"invalid numeric entity {match.group()} at position {i}")
    return chr(code), match.end()


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            char, i = _entity_at(value, i, in_attribute=True)
            out.append(char)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _check_attributes(tag: str, attrs: dict[str, str]) -> None:
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise _Problem('unsupported tag <span> (only <span class="tg-spoiler">)')
    if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise _Problem('tag <tg-emoji> needs a numeric emoji-id="..."')
    if tag == "tg-time":
        unix = attrs.get("unix", "")
        if not unix.isdigit():
            raise _Problem('tag <tg-time> needs a numeric unix="..."')
        if _TIME_FORMAT.fullmatch(attrs.get("format", "")) is None:
            raise _Problem(f'tag <tg-time> has an invalid format="{attrs["format"]}"')


def _start_tag(text: str, i: int) -> tuple[str, int]:
    """The name of a start tag at ``text[i] == '<'`` (checked) and the index past its '>'."""
    match = _START.match(text, i)
    if match is None:
        raise _Problem(f"unescaped < at position {i} (write &lt;)")
    tag = match.group(1).lower()
    if tag not in SUPPORTED_TAGS:
        raise _Problem(f"unsupported tag <{tag}>")
    attrs: dict[str, str] = {}
    j = match.end()
    while (attr := _ATTR.match(text, j)) is not None:
        name, double, single, bare = attr.groups()
        raw = next((v for v in (double, single, bare) if v is not None), "")
        attrs[name.lower()] = _unescape(raw)
        j = attr.end()
    close = _TAG_END.match(text, j)
    if close is None:
        raise _Problem(f"tag <{tag}> at position {i} is malformed or not ended by >")
    _check_attributes(tag, attrs)
    return tag, close.end()


def _parse(text: str) -> str:
    """The text Telegram keeps once the markup is parsed; raises _Problem."""
    out: list[str] = []
    open_tags: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            char, i = _entity_at(text, i, in_attribute=False)
            out.append(char)
        elif c == ">":
            raise _Problem(f"unescaped > at position {i} (write &gt;)")
        elif c != "<":
            out.append(c)
            i += 1
        elif text.startswith("</", i):
            end = _END.match(text, i)
            if end is None:
                raise _Problem(f"malformed end tag at position {i}")
            tag = end.group(1).lower()
            if not open_tags:
                raise _Problem(f"</{tag}> closes nothing")
            if open_tags[-1] != tag:
                raise _Problem(f"</{tag}> found where </{open_tags[-1]}> was expected")
            open_tags.pop()
            i = end.end()
        else:
            tag, i = _start_tag(text, i)
            open_tags.append(tag)
    if open_tags:
        raise _Problem(f"tag <{open_tags[-1]}> is not closed")
    return "".join(out)


def html_problem(text: str, *, max_length: int = MAX_TEXT) -> str | None:
    """None when Telegram accepts ``text`` sent with parse_mode HTML, else the first problem."""
    try:
        parsed = _parse(text).strip()
    except _Problem as problem:
        return str(problem)
    if not parsed:
        return "the text is empty once parsed"
    if len(parsed) > max_length:
        return f"the text is {len(parsed)} characters long once parsed, over {max_length}"
    return None


def callback_data_problem(data: str) -> str | None:
    """None when Telegram accepts ``data`` as an inline button's callback_data."""
    size = len(data.encode("utf-8", errors="surrogatepass"))
    if size == 0:
        return "the callback data is empty"
    if size > MAX_CALLBACK_DATA:
        return f"the callback data is {size} bytes long, over {MAX_CALLBACK_DATA}"
    return None
