"""Sending, editing and deleting messages."""

from __future__ import annotations

from typing import Any

from bot_api_emulator.errors import (
    MESSAGE_CANT_BE_DELETED,
    MESSAGE_CANT_BE_EDITED,
    MESSAGE_ID_NOT_SPECIFIED,
    MESSAGE_NOT_MODIFIED,
    MESSAGE_TO_DELETE_NOT_FOUND,
    MESSAGE_TO_EDIT_NOT_FOUND,
    REPLY_NOT_FOUND,
    THREAD_NOT_FOUND,
    bad_request,
)
from bot_api_emulator.formatting import format_text
from bot_api_emulator.models import Chat, Message
from bot_api_emulator.serialize import message_json

from .access import has_right, require_can_send, require_presence, resolve_chat
from .base import Call, method
from .markup import parse_reply_markup

_UNDELETABLE_SERVICE = (
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "forum_topic_created",
)
_DELETE_WINDOW = 48 * 3600


def _thread(call: Call, chat: Chat) -> tuple[int | None, bool]:
    thread_id = call.params.integer("message_thread_id")
    if not thread_id:
        return None, False
    if chat.type == "supergroup" and chat.is_forum:
        if thread_id not in chat.topics:
            raise bad_request(THREAD_NOT_FOUND)
        return thread_id, True
    if chat.type == "supergroup" and call.state.message(chat.id, thread_id) is not None:
        return thread_id, False
    raise bad_request(THREAD_NOT_FOUND)


def _reply_target(call: Call, chat: Chat, peer: int) -> int | None:
    p = call.params
    reply = p.json_value("reply_parameters", "reply parameters")
    if isinstance(reply, dict):
        message_id = int(reply.get("message_id") or 0)
        allow_missing = bool(reply.get("allow_sending_without_reply"))
        other = reply.get("chat_id")
        if other is not None and str(other) != str(chat.id):
            # A reply to another chat is shown as an external reply; only its existence matters.
            target = call.state.find_chat(other)
            found = target is not None and call.state.message(target.id, message_id) is not None
            if not found and not allow_missing:
                raise bad_request(REPLY_NOT_FOUND)
            return None
    else:
        message_id = p.integer("reply_to_message_id", 0) or 0
        allow_missing = p.boolean("allow_sending_without_reply")
    if not message_id:
        return None
    if call.state.message(chat.id, message_id, peer) is None:
        if allow_missing:
            return None
        raise bad_request(REPLY_NOT_FOUND)
    return message_id


@method("sendMessage")
def send_message(call: Call) -> dict[str, Any]:
    p = call.params
    chat = resolve_chat(call)
    require_can_send(call, chat)
    text, entities = format_text(
        p.string("text") or "", p.string("parse_mode"), p.json_value("entities", "entities")
    )
    markup = parse_reply_markup(p)
    thread_id, is_topic = _thread(call, chat)
    peer = call.bot_id if chat.type == "private" else 0
    reply_to = _reply_target(call, chat, peer)
    if reply_to is not None and chat.is_forum and thread_id is None:
        thread_id = call.state.message(chat.id, reply_to).thread_id  # type: ignore[union-attr]
        is_topic = thread_id is not None
    call.emu.limiter.check_send(call.bot_id, chat.id, chat.type)
    channel = chat.type == "channel"
    message = Message(
        chat.id,
        0,
        call.now(),
        peer=peer,
        sender_id=None if channel else call.bot_id,
        sender_chat_id=chat.id if channel else None,
        text=text,
        entities=entities or None,
        reply_to=reply_to,
        thread_id=thread_id,
        is_topic_message=is_topic,
        reply_markup=markup,
        from_bot=True,
    )
    call.state.add_message(message)
    return message_json(call.state, message)


def _own_message(call: Call, chat: Chat, missing: str) -> Message:
    p = call.params
    if not p.has("chat_id") and not p.has("message_id"):
        if p.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        raise bad_request(MESSAGE_ID_NOT_SPECIFIED)
    message_id = p.integer("message_id", 0) or 0
    if message_id <= 0:
        raise bad_request(MESSAGE_ID_NOT_SPECIFIED)
    if chat.type != "private":
        require_presence(call, chat)
    peer = call.bot_id if chat.type == "private" else 0
    message = call.state.message(chat.id, message_id, peer)
    if message is None:
        raise bad_request(missing)
    if not message.from_bot or (message.sender_id not in (None, call.bot_id)):
        raise bad_request(MESSAGE_CANT_BE_EDITED)
    return message


@method("editMessageText")
def edit_message_text(call: Call) -> dict[str, Any]:
    p = call.params
    chat = resolve_chat(call)
    message = _own_message(call, chat, MESSAGE_TO_EDIT_NOT_FOUND)
    text, entities = format_text(
        p.string("text") or "", p.string("parse_mode"), p.json_value("entities", "entities")
    )
    markup = parse_reply_markup(p, inline_only=True)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    if (message.text, message.entities or [], message.reply_markup) == (text, entities, markup):
        raise bad_request(MESSAGE_NOT_MODIFIED)
    message.text, message.entities, message.reply_markup = text, entities or None, markup
    message.edit_date = call.now()
    return message_json(call.state, message)


@method("editMessageReplyMarkup")
def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    chat = resolve_chat(call)
    message = _own_message(call, chat, MESSAGE_TO_EDIT_NOT_FOUND)
    markup = parse_reply_markup(call.params, inline_only=True)
    if markup == message.reply_markup:
        raise bad_request(MESSAGE_NOT_MODIFIED)
    message.reply_markup = markup
    message.edit_date = call.now()
    return message_json(call.state, message)


def _may_delete(call: Call, chat: Chat, message: Message) -> bool:
    """Telegram's deleteMessage limitations (see the method's documentation)."""
    if message.service and any(key in message.service for key in _UNDELETABLE_SERVICE):
        return False
    if call.now() - message.date >= _DELETE_WINDOW:
        return False
    if chat.type == "private":
        return True
    member = call.state.member(chat.id, call.bot_id)
    own = message.from_bot and message.sender_id in (None, call.bot_id)
    if chat.type == "group":
        return own or member.status in ("creator", "administrator")
    if chat.type == "channel":
        return (own and has_right(member, "can_post_messages")) or has_right(
            member, "can_delete_messages"
        )
    return own or has_right(member, "can_delete_messages")


@method("deleteMessage")
def delete_message(call: Call) -> bool:
    chat = resolve_chat(call)
    message_id = call.params.integer("message_id", 0) or 0
    if message_id <= 0:
        raise bad_request(MESSAGE_ID_NOT_SPECIFIED)
    if chat.type != "private":
        require_presence(call, chat)
    peer = call.bot_id if chat.type == "private" else 0
    message = call.state.message(chat.id, message_id, peer)
    if message is None:
        raise bad_request(MESSAGE_TO_DELETE_NOT_FOUND)
    if not _may_delete(call, chat, message):
        raise bad_request(MESSAGE_CANT_BE_DELETED)
    call.state.delete_message(chat.id, message_id, peer, by=call.bot_id)
    return True


@method("deleteMessages")
def delete_messages(call: Call) -> bool:
    chat = resolve_chat(call)
    ids = call.params.json_value("message_ids", "message identifiers")
    if not isinstance(ids, list) or not ids:
        raise bad_request(MESSAGE_ID_NOT_SPECIFIED)
    if len(ids) > 100:
        raise bad_request("too many message identifiers specified")
    if chat.type != "private":
        require_presence(call, chat)
    peer = call.bot_id if chat.type == "private" else 0
    found = deleted = 0
    for raw_id in ids:
        message = call.state.message(chat.id, int(raw_id), peer)
        if message is None:
            continue  # missing messages are skipped, as documented
        found += 1
        if _may_delete(call, chat, message):
            call.state.delete_message(chat.id, message.message_id, peer, by=call.bot_id)
            deleted += 1
    if not found:
        raise bad_request(MESSAGE_TO_DELETE_NOT_FOUND)
    if not deleted:
        raise bad_request(MESSAGE_CANT_BE_DELETED)
    return True
