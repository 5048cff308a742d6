"""reply_markup validation: inline keyboards are checked the way Telegram checks them."""

from __future__ import annotations

from typing import Any

from bot_api_emulator.errors import bad_request
from bot_api_emulator.params import Params

# Exactly one of these makes an inline button do something.
_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_OTHER_MARKUPS = ("keyboard", "remove_keyboard", "force_reply")


def _check_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text must be a string")
    actions = [name for name in _ACTIONS if button.get(name) is not None]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= 64:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
        raise bad_request("BUTTON_URL_INVALID")
    return {key: value for key, value in button.items() if value is not None}


def parse_reply_markup(params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
    """The inline keyboard to store on the message (None if absent or not inline)."""
    markup = params.json_value("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" not in markup:
        if inline_only or not any(key in markup for key in _OTHER_MARKUPS):
            raise bad_request("inline keyboard expected")
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    return {"inline_keyboard": [[_check_button(button) for button in row] for row in rows]}
