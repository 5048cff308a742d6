"""parse_mode handling: entities and Telegram's parse errors."""

from __future__ import annotations

import pytest

from bot_api_emulator.errors import ApiError
from bot_api_emulator.formatting import format_text


def test_html_entities_and_escapes() -> None:
    text, entities = format_text(
        '<b>Hi</b> <a href="https://t.me/x">join</a> &lt;3 😀 <i>x</i>', "HTML", None
    )
    assert text == "Hi join <3 😀 x"
    assert entities == [
        {"offset": 0, "length": 2, "type": "bold"},
        {"offset": 3, "length": 4, "type": "text_link", "url": "https://t.me/x"},
        # The emoji counts as two UTF-16 units.
        {"offset": 14, "length": 1, "type": "italic"},
    ]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("Mr <Smith>", 'Unsupported start tag "smith" at byte offset 3'),
    ],
)
def test_html_errors(source: str, error: str) -> None:
    with pytest.raises(ApiError) as raised:
        format_text(source, "HTML", None)
    assert raised.value.description == f"Bad Request: can't parse entities: {error}"


def test_markdown_v2() -> None:
    text, entities = format_text(r"*bold* _it_ \. [link](https://a.b) ||sp||", "MarkdownV2", None)
    assert text == "bold it . link sp"
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link", "spoiler"]
    with pytest.raises(ApiError, match=r"Character '\.' is reserved"):
        format_text("Hello.", "MarkdownV2", None)


def test_plain_text_is_trimmed_and_detected() -> None:
    text, entities = format_text("  /start@gm_bot see https://t.me/c  ", None, None)
    assert text == "/start@gm_bot see https://t.me/c"
    assert [e["type"] for e in entities] == ["bot_command", "url"]


def test_empty_and_unknown_mode() -> None:
    with pytest.raises(ApiError, match="message text is empty"):
        format_text("<b></b>", "HTML", None)
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        format_text("x", "BBCode", None)
