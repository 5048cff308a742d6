"""Callback answers, invite links, bot commands and chat actions."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from bot_api_emulator.errors import NOT_ENOUGH_RIGHTS_INVITE_LINKS, QUERY_ID_INVALID, bad_request
from bot_api_emulator.models import Chat, InviteLink
from bot_api_emulator.serialize import invite_link_json

from .access import check_migrated, has_right, require_can_send, require_presence, resolve_chat
from .base import Call, method

# fullmatch: "$" would also match before a trailing newline ("start\n").
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
MAX_COMMANDS = 100  # per scope and language


@method("answerCallbackQuery")
def answer_callback_query(call: Call) -> bool:
    query_id = call.params.string("callback_query_id") or ""
    query = call.emu.callbacks.get(query_id)
    age = call.state.clock.time() - query.created if query else 0.0
    if (
        query is None
        or query.bot_id != call.bot_id
        or query.answer.done()
        or age > call.emu.settings.callback_query_ttl
    ):
        raise bad_request(QUERY_ID_INVALID)
    query.answer.set_result(
        {
            "text": call.params.string("text"),
            "show_alert": call.params.boolean("show_alert"),
            "url": call.params.string("url"),
            "cache_time": call.params.integer("cache_time", 0),
        }
    )
    return True


def _new_link(chat: Chat, creator_id: int, **fields: Any) -> InviteLink:
    link = InviteLink(f"https://t.me/+{secrets.token_urlsafe(12)[:16]}", creator_id, **fields)
    chat.invite_links[link.link] = link
    return link


def primary_invite_link(call: Call, chat: Chat) -> InviteLink:
    """The bot's primary link, created on first use (each administrator has their own)."""
    for link in chat.invite_links.values():
        if link.is_primary and not link.is_revoked and link.creator_id == call.bot_id:
            return link
    return _new_link(chat, call.bot_id, is_primary=True)


def _inviting_chat(call: Call) -> Chat:
    chat = resolve_chat(call)
    check_migrated(chat)
    if chat.type == "private":
        raise bad_request("can't invite members to a private chat")
    if not has_right(require_presence(call, chat), "can_invite_users"):
        raise bad_request(NOT_ENOUGH_RIGHTS_INVITE_LINKS)
    return chat


@method("createChatInviteLink")
def create_chat_invite_link(call: Call) -> dict[str, Any]:
    chat = _inviting_chat(call)
    p = call.params
    name = p.string("name")
    if name is not None and len(name) > 32:
        raise bad_request("invite link name is too long")
    limit = p.integer("member_limit")
    if limit is not None and not 1 <= limit <= 99999:
        raise bad_request("member limit must be between 1 and 99999")
    link = _new_link(
        chat,
        call.bot_id,
        name=name,
        expire_date=p.integer("expire_date"),
        member_limit=limit,
        creates_join_request=p.boolean("creates_join_request"),
    )
    return invite_link_json(call.state, link)


@method("exportChatInviteLink")
def export_chat_invite_link(call: Call) -> str:
    chat = _inviting_chat(call)
    # A new primary link revokes the bot's previous one.
    for link in chat.invite_links.values():
        if link.is_primary and link.creator_id == call.bot_id:
            link.is_revoked = True
    return _new_link(chat, call.bot_id, is_primary=True).link


def _commands_key(call: Call) -> str:
    scope = call.params.json_value("scope", "scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + (call.params.string("language_code") or "")


@method("setMyCommands")
def set_my_commands(call: Call) -> bool:
    commands = call.params.json_value("commands", "commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    call.bot.commands[_commands_key(call)] = commands
    return True


@method("getMyCommands")
def get_my_commands(call: Call) -> list[dict[str, Any]]:
    return call.bot.commands.get(_commands_key(call), [])


@method("deleteMyCommands")
def delete_my_commands(call: Call) -> bool:
    call.bot.commands.pop(_commands_key(call), None)
    return True


@method("sendChatAction")
def send_chat_action(call: Call) -> bool:
    chat = resolve_chat(call)
    if not call.params.has("action"):
        raise bad_request('parameter "action" is required')
    require_can_send(call, chat)
    return True
