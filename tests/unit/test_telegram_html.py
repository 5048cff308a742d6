"""gmbot's checker of Telegram's HTML rules, the Bot API emulator's parser and the
end-to-end tests' fake Telegram accept and refuse the same texts: those the Bot API
documents (https://core.telegram.org/bots/api#html-style) as valid, and no others."""

from __future__ import annotations

import pytest

from bot_api_emulator.errors import ApiError as EmulatorError
from bot_api_emulator.formatting import format_text
from gmbot.domain.telegram_html import callback_data_problem, html_problem
from tests.fakes.telegram import ApiError as FakeError
from tests.fakes.telegram import check_text

ACCEPTED = [
    "plain text",
    "<b>bold</b>, <strong>bold</strong>",
    "<i>italic</i>, <em>italic</em>",
    "<u>underline</u>, <ins>underline</ins>",
    "<s>s</s>, <strike>strike</strike>, <del>del</del>",
    '<span class="tg-spoiler">spoiler</span>, <tg-spoiler>spoiler</tg-spoiler>',
    "<span class='tg-spoiler'>single quotes</span>",
    '<b>bold <i>italic bold <s>italic bold strikethrough <span class="tg-spoiler">italic bold '
    "strikethrough spoiler</span></s> <u>underline italic bold</u></i> bold</b>",
    '<a href="http://www.example.com/">inline URL</a>',
    '<a href="tg://user?id=123456789">inline mention of a user</a>',
    '<a href="https://t.me/x?start=a&amp;b=1">escaped &amp; in href</a>',
    '<a href="https://t.me/x?a=1&b=2">an &amp; in an attribute is part of the tag</a>',
    '<a href="https://x.y/?q=<>">quoted &lt;&gt; in an attribute</a>',
    "<a href=https://t.me/unquoted>unquoted href</a>",
    "<a href=https://t.me/x?start=a&b=1>unquoted href with = and &amp;</a>",
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
    '<tg-time unix="1647531900" format="wDT">22:45 tomorrow</tg-time>',
    '<tg-time unix="1647531900" format="r">22:45 tomorrow</tg-time>',
    '<tg-time unix="1647531900">22:45 tomorrow</tg-time>',
    "<code>inline fixed-width code</code>",
    "<pre>pre-formatted fixed-width code block</pre>",
    '<pre><code class="language-python">print("x")</code></pre>',
    "<blockquote>Block quotation started\nBlock quotation continued</blockquote>",
    "<blockquote expandable>Expandable block quotation</blockquote>",
    "&lt;duration&gt; &amp; &quot;quoted&quot;",
    "numeric &#60;b&#62; &#x3C;i&#x3e; &#128512;",
    "<B>upper-case tags</B> <b >space before &gt;</b >",
    "<b></b>text after an empty tag",
    "  surrounding whitespace is stripped  ",
    "emoji 😀 and Cyrillic текст",
    "a bare \" and ' are fine",
    "x" * 4096,
    "😀" * 4096,  # Telegram counts characters (code points), not UTF-16 units
    "<b>" + "x" * 4096 + "</b>",  # markup does not count
]

REFUSED = [
    ("", "empty once parsed"),
    ("   \n ", "empty once parsed"),
    ("<b> </b>", "empty once parsed"),
    ("Use: prompt <duration>", "unsupported tag <duration>"),
    ("<div>x</div>", "unsupported tag <div>"),
    ("<br>", "unsupported tag <br>"),
    ("<span>x</span>", "unsupported tag <span>"),
    ('<span class="bold">x</span>', "unsupported tag <span>"),
    ("<b>bold", "tag <b> is not closed"),
    ("<b><i>x</i>", "tag <b> is not closed"),
    ("x</i>", "</i> closes nothing"),
    ("<b>x</i>", "</i> found where </b> was expected"),
    ("<b>x</i></b>", "</i> found where </b> was expected"),
    ("a < b", "unescaped <"),
    ("a <3", "unescaped <"),
    ("a > b", "unescaped >"),
    ("arrow ->", "unescaped >"),
    ("Tom & Jerry", "unescaped & at position 4"),
    ("&amp &lt;", "unescaped & at position 0"),
    ("&nbsp;", "unsupported entity &nbsp;"),
    ("&copy; 2026", "unsupported entity &copy;"),
    ("&#0;", "invalid numeric entity"),
    ("&#xD800;", "invalid numeric entity"),
    ("&#x110000;", "invalid numeric entity"),
    ("<b", "malformed or not ended"),
    ("<b/>x", "malformed or not ended"),
    ('<a href="x>link</a>', "malformed or not ended"),
    ("x</b", "malformed end tag"),
    ("<tg-emoji>👍</tg-emoji>", "tg-emoji"),
    ('<tg-emoji emoji-id="abc">👍</tg-emoji>', "tg-emoji"),
    ("<tg-time>22:45</tg-time>", "tg-time"),
    ('<tg-time unix="soon">22:45</tg-time>', "tg-time"),
    ('<tg-time unix="1647531900" format="rt">22:45</tg-time>', "invalid format"),
    ("x" * 4097, "4097 characters long once parsed, over 4096"),
    ("😀" * 4097, "4097 characters long once parsed, over 4096"),
    ("<b>" + "x" * 4097 + "</b>", "over 4096"),
]


def _emulator_refuses(text: str) -> str | None:
    try:
        format_text(text, "HTML", None)
    except EmulatorError as err:
        return err.description
    return None


def _fake_refuses(text: str) -> str | None:
    try:
        check_text({"text": text, "parse_mode": "HTML"})
    except FakeError as err:
        return err.description
    return None


@pytest.mark.parametrize("text", ACCEPTED, ids=lambda t: t[:40])
def test_documented_markup_is_accepted_by_all(text: str) -> None:
    assert html_problem(text) is None
    assert _emulator_refuses(text) is None
    assert _fake_refuses(text) is None


@pytest.mark.parametrize(("text", "problem"), REFUSED, ids=lambda t: str(t)[:40])
def test_invalid_texts_are_refused_by_all(text: str, problem: str) -> None:
    found = html_problem(text)
    assert found is not None
    assert problem in found
    assert _emulator_refuses(text) is not None, "the emulator accepts it"
    assert _fake_refuses(text) is not None, "the fake Telegram accepts it"


def test_first_problem_is_reported() -> None:
    assert html_problem("<b>&</b> <div>") == "unescaped & at position 3 (write &amp;)"
    assert html_problem("<div><b>") == "unsupported tag <div>"


def test_max_length_is_a_parameter() -> None:
    assert html_problem("<b>12345</b>", max_length=5) is None
    assert html_problem("<b>123456</b>", max_length=5) == (
        "the text is 6 characters long once parsed, over 5"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("p:-1001234567890123:0", None),
        ("x" * 64, None),
        ("é" * 32, None),
        ("", "the callback data is empty"),
        ("x" * 65, "the callback data is 65 bytes long, over 64"),
        ("é" * 33, "the callback data is 66 bytes long, over 64"),
    ],
)
def test_callback_data(data: str, problem: str | None) -> None:
    assert callback_data_problem(data) == problem
    keyboard = {"inline_keyboard": [[{"text": "ok", "callback_data": data}]]}
    try:
        check_text({"text": "hi", "reply_markup": keyboard})
    except FakeError:
        refused = True
    else:
        refused = False
    assert refused == (problem is not None), "the fake Telegram disagrees"
