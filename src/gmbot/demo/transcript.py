"""Readable one-liners for what the bot asked Telegram and what people saw."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import unescape
from typing import Any

from bot_api_emulator import RequestRecord

# Polling plumbing: shown once at start-up, not in every step.
QUIET_METHODS = frozenset({"getupdates"})


def clip(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Names:
    """Display names of the demo's chats and users, by id."""

    def __init__(self) -> None:
        self.chats: dict[int, str] = {}
        self.users: dict[int, str] = {}

    def chat(self, value: Any) -> str:
        if isinstance(value, int) and value in self.chats:
            return self.chats[value]
        return str(value)

    def user(self, value: Any) -> str:
        if isinstance(value, int) and value in self.users:
            return self.users[value]
        return str(value)


def buttons(markup: Mapping[str, Any] | None) -> list[str]:
    """Inline buttons as `[text → url]` / `[text ⇢ callback_data]`."""
    if not markup:
        return []
    out = []
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if "url" in button:
                out.append(f"[{button['text']} → {button['url']}]")
            else:
                out.append(f"[{button['text']} ⇢ {button.get('callback_data')}]")
    return out


def _permissions(params: Mapping[str, Any]) -> str:
    perms = params.get("permissions") or {}
    if isinstance(perms, str):
        perms = json.loads(perms)
    on = sorted(k for k, v in perms.items() if v)
    off = sorted(k for k, v in perms.items() if not v)
    send = perms.get("can_send_messages")
    head = f"can_send_messages={'true' if send else 'false'}"
    if not off:
        return f"{head} (all {len(on)} permissions on)"
    if not on:
        return f"{head} (all {len(off)} permissions off)"
    return f"{head} ({len(on)} on, {len(off)} off)"


def _result(record: RequestRecord, names: Names) -> str:
    if not record.ok:
        return f" → error {record.response.get('error_code')}: {record.response.get('description')}"
    result = record.result
    method = record.method.lower()
    if method == "getchatmember" and isinstance(result, dict):
        return f" → {result.get('status')}"
    if method == "getchat" and isinstance(result, dict):
        return f" → {result.get('type')} “{result.get('title')}”"
    if method == "getchatadministrators" and isinstance(result, list):
        admins = ", ".join(names.user(m["user"]["id"]) for m in result)
        return f" → {admins}"
    if method == "getme" and isinstance(result, dict):
        return f" → @{result.get('username')}"
    if method == "sendmessage" and isinstance(result, dict):
        return f" → message {result.get('message_id')}"
    return " → ok"


def describe_call(record: RequestRecord, names: Names) -> str:
    """`[bot → Telegram] restrictChatMember chat=… user=… can_send_messages=false → ok`."""
    p = record.params
    method = record.method
    parts: list[str] = [method]
    if "chat_id" in p:
        parts.append(f"chat={names.chat(p['chat_id'])}")
    if "user_id" in p:
        parts.append(f"user={names.user(p['user_id'])}")
    low = method.lower()
    if low in ("deletemessage", "editmessagetext", "editmessagereplymarkup"):
        parts.append(f"message_id={p.get('message_id')}")
    if low == "deletemessages":
        parts.append(f"message_ids={p.get('message_ids')}")
    if low == "restrictchatmember":
        parts.append(_permissions(p))
    if low == "answercallbackquery":
        if p.get("text"):
            parts.append(f"“{clip(str(p['text']), 60)}”")
        parts.append(f"show_alert={'true' if p.get('show_alert') else 'false'}")
    if low in ("sendmessage", "editmessagetext"):
        parts.append(f"“{clip(_plain(str(p.get('text', ''))), 70)}”")
        markup = p.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        shown = buttons(markup if isinstance(markup, dict) else None)
        if shown:
            parts.append("buttons " + " ".join(shown))
    if low == "getupdates":
        parts.append(f"allowed_updates={','.join(p.get('allowed_updates') or [])}")
    if low == "setwebhook":
        parts.append(f"url={p.get('url')}")
    return "[bot → Telegram] " + " ".join(parts) + _result(record, names)


def _plain(html: str) -> str:
    """The HTML the bot sends, as the reader would see it (tags dropped)."""
    return unescape(re.sub(r"<[^>]+>", "", html))
