"""The fake Telegram refuses message texts Telegram would refuse (its HTML rules and
length limit), so every reply, prompt and notice the end-to-end tests send is checked."""

from __future__ import annotations

import pytest

from tests.fakes.telegram import MAX_TEXT, ApiError, check_text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Use: prompt <duration>", 'Unsupported start tag "duration"'),
        ("<b>bold", "Can't find end tag corresponding to start tag"),
        ("<b>bold</i>", "Unmatched end tag"),
        ("x" * (MAX_TEXT + 1), "message is too long"),
        ("<b> </b>", "message text is empty"),
    ],
)
def test_texts_telegram_refuses_are_refused(text: str, error: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_text({"text": text, "parse_mode": "HTML"})
    assert caught.value.code == 400
    assert error in caught.value.description


def test_valid_markup_and_plain_text_pass() -> None:
    check_text(
        {
            "text": '<b>Hi</b> <a href="tg://user?id=1">you</a> &lt;duration&gt;',
            "parse_mode": "HTML",
        }
    )
    check_text({"text": "prompt <duration> as plain text"})
    check_text({"text": "x" * MAX_TEXT, "parse_mode": "HTML"})


def test_callback_data_over_64_bytes_is_refused() -> None:
    keyboard = {"inline_keyboard": [[{"text": "ok", "callback_data": "é" * 33}]]}
    with pytest.raises(ApiError, match="BUTTON_DATA_INVALID"):
        check_text({"text": "hi", "reply_markup": keyboard})
    check_text(
        {
            "text": "hi",
            "reply_markup": {"inline_keyboard": [[{"text": "ok", "callback_data": "x" * 64}]]},
        }
    )
