"""What users do (control side): post and edit messages, press buttons, start or block a bot.

Each action is checked the way a Telegram client would be stopped: a muted user cannot post,
a banned sender chat cannot speak, a button must exist to be pressed.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from .errors import ControlError
from .formatting import auto_entities
from .models import (
    ADMIN_STATUSES,
    CHANNEL_BOT_ID,
    GROUP_ANONYMOUS_BOT_ID,
    KICKED,
    MEMBER,
    RESTRICTED,
    Chat,
    Member,
    Message,
)
from .permissions import MEDIA_KIND_PERMISSION, effective
from .serialize import chat_json, message_json, user_json

if TYPE_CHECKING:
    from .core import CallbackQuery, Emulator

TELEGRAM_SERVICE_ID = 777000
_SERVICE_USERS = {
    TELEGRAM_SERVICE_ID: ("Telegram", None, False),
    CHANNEL_BOT_ID: ("Channel", "Channel_Bot", True),
    GROUP_ANONYMOUS_BOT_ID: ("Group", "GroupAnonymousBot", True),
}
_INACCESSIBLE_AFTER = 48 * 3600


def _service_user(emu: Emulator, user_id: int) -> int:
    if user_id not in emu.state.users:
        name, username, is_bot = _SERVICE_USERS[user_id]
        emu.state.add_user(name, username=username, is_bot=is_bot, user_id=user_id)
    return user_id


def _check_can_post(emu: Emulator, chat: Chat, user_id: int, media: str | None) -> None:
    member = emu.state.member(chat.id, user_id)
    where = f"chat {chat.id}"
    if member.status == KICKED:
        raise ControlError(403, f"user {user_id} is banned in {where}")
    if not member.is_present:
        raise ControlError(403, f"user {user_id} is not a member of {where}")
    if member.status in ADMIN_STATUSES:
        return
    needed = "can_send_messages" if media is None else MEDIA_KIND_PERMISSION[media]
    own = member.permissions if member.status == RESTRICTED else chat.permissions
    if not effective(own, chat.permissions, needed):
        raise ControlError(403, f"user {user_id} may not post in {where}: {needed} is false")


def _thread(emu: Emulator, chat: Chat, thread_id: int | None) -> tuple[int | None, bool]:
    if thread_id is None:
        return None, False
    if chat.is_forum:
        if thread_id not in chat.topics:
            raise ControlError(404, f"topic {thread_id} does not exist in chat {chat.id}")
        return thread_id, True
    if emu.state.message(chat.id, thread_id) is None:
        raise ControlError(404, f"message thread {thread_id} does not exist in chat {chat.id}")
    return thread_id, False


def post(
    emu: Emulator,
    chat_id: int,
    user_id: int | None = None,
    *,
    text: str | None = None,
    media: str | None = None,
    caption: str | None = None,
    reply_to: int | None = None,
    thread_id: int | None = None,
    sender_chat_id: int | None = None,
    is_automatic_forward: bool = False,
    edit_of: int | None = None,
    bot_id: int | None = None,
) -> Message:
    """A user (or a channel, or an anonymous admin) posts in a chat; bots get the update."""
    state = emu.state
    chat = state.chat(chat_id)
    if chat.migrated_to is not None:
        raise ControlError(409, f"chat {chat_id} was upgraded to {chat.migrated_to}")
    if media is not None and media not in MEDIA_KIND_PERMISSION:
        raise ControlError(400, f"media must be one of {sorted(MEDIA_KIND_PERMISSION)}")
    if text is None and media is None:
        raise ControlError(400, "a message needs text or media")
    if media is not None and caption is None:
        caption = text  # text given with media is the media's caption
    peer = 0
    if chat.type == "private":
        user_id = chat.id if user_id is None else user_id
        if user_id != chat.id:
            raise ControlError(400, "in a private chat only its user can post")
        peer = state.sole_bot(bot_id).user.id
        if user_id in state.blocked[peer]:
            raise ControlError(409, f"user {user_id} has blocked bot {peer}; start it again first")
        # Writing to a bot opens the conversation, as pressing Start does.
        state.started[peer].add(user_id)
    if edit_of is not None:
        return _edit(emu, chat, peer, edit_of, user_id, sender_chat_id, text, caption)
    sender_id: int | None = user_id
    if chat.type == "channel":
        if user_id is None or not _can_post_in_channel(emu, chat, user_id):
            raise ControlError(403, f"user {user_id} may not post in channel {chat.id}")
        sender_id, sender_chat_id = None, chat.id
    elif sender_chat_id is not None:
        sender = state.chat(sender_chat_id)
        if sender.id in chat.banned_sender_chats:
            raise ControlError(403, f"sender chat {sender.id} is banned in chat {chat.id}")
        if sender.id == chat.id:
            sender_id = _service_user(emu, GROUP_ANONYMOUS_BOT_ID)
        elif sender.type != "channel":
            raise ControlError(400, "a message can be sent on behalf of a channel only")
        elif is_automatic_forward:
            sender_id = _service_user(emu, TELEGRAM_SERVICE_ID)
        else:
            sender_id = _service_user(emu, CHANNEL_BOT_ID)
    elif chat.type != "private":
        if user_id is None:
            raise ControlError(400, "user_id is required")
        state.user(user_id)
        _check_can_post(emu, chat, user_id, media)
    thread, is_topic = _thread(emu, chat, thread_id)
    if reply_to is not None and state.message(chat.id, reply_to, peer) is None:
        raise ControlError(404, f"message {reply_to} does not exist in chat {chat.id}")
    message = Message(
        chat.id,
        0,
        state.clock.now(),
        peer=peer,
        sender_id=sender_id,
        sender_chat_id=sender_chat_id,
        text=text if media is None else None,
        entities=auto_entities(text) or None if text is not None and media is None else None,
        caption=caption if media is not None else None,
        media=media,
        reply_to=reply_to,
        thread_id=thread,
        is_topic_message=is_topic,
        is_automatic_forward=is_automatic_forward,
    )
    state.add_message(message)
    emu.events.message(message)
    if chat.type == "channel" and chat.linked_chat_id in state.chats:
        _forward_to_discussion(emu, chat, message)
    return message


def _can_post_in_channel(emu: Emulator, chat: Chat, user_id: int) -> bool:
    member = emu.state.member(chat.id, user_id)
    return member.status == "creator" or bool(member.rights.get("can_post_messages"))


def _forward_to_discussion(emu: Emulator, channel: Chat, post_message: Message) -> None:
    """Telegram copies every channel post into the linked discussion group."""
    group_id = channel.linked_chat_id
    assert group_id is not None
    copy = Message(
        group_id,
        0,
        post_message.date,
        sender_id=_service_user(emu, TELEGRAM_SERVICE_ID),
        sender_chat_id=channel.id,
        text=post_message.text,
        entities=post_message.entities,
        caption=post_message.caption,
        media=post_message.media,
        is_automatic_forward=True,
        forward_origin={
            "type": "channel",
            "date": post_message.date,
            "chat": chat_json(channel),
            "message_id": post_message.message_id,
        },
    )
    emu.state.add_message(copy)
    emu.events.message(copy)


def _edit(
    emu: Emulator,
    chat: Chat,
    peer: int,
    message_id: int,
    user_id: int | None,
    sender_chat_id: int | None,
    text: str | None,
    caption: str | None,
) -> Message:
    message = emu.state.message(chat.id, message_id, peer)
    if message is None:
        raise ControlError(404, f"message {message_id} does not exist in chat {chat.id}")
    own = message.sender_id == user_id if chat.type != "channel" else True
    if message.from_bot or not own:
        raise ControlError(403, f"message {message_id} was not sent by user {user_id}")
    if message.text is not None and text is not None:
        message.text, message.entities = text, auto_entities(text) or None
    elif caption is not None:
        message.caption = caption
    message.edit_date = emu.state.clock.now()
    emu.events.message(message, kind="edited_message")
    return message


def press_button(
    emu: Emulator, chat_id: int, message_id: int, user_id: int, data: str, bot_id: int | None = None
) -> CallbackQuery:
    """A user taps an inline button; the bot that sent the message gets a callback_query."""
    from .core import CallbackQuery

    state = emu.state
    chat = state.chat(chat_id)
    peer = state.sole_bot(bot_id).user.id if chat.type == "private" else 0
    message = state.message(chat.id, message_id, peer)
    if message is None:
        raise ControlError(404, f"message {message_id} does not exist in chat {chat_id}")
    buttons = [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]
    if not any(b.get("callback_data") == data for b in buttons):
        raise ControlError(400, f"message {message_id} has no button with callback_data {data!r}")
    owner = message.sender_id if message.sender_id in state.bots else None
    if owner is None:
        owner = state.sole_bot(bot_id).user.id
    user = state.user(user_id)
    now = state.clock.now()
    shown: dict[str, Any]
    if now - message.date > _INACCESSIBLE_AFTER:
        shown = {"chat": chat_json(chat), "message_id": message.message_id, "date": 0}
    else:
        shown = message_json(state, message)
    _forget_old_queries(emu)
    query_id = str(secrets.randbits(63))
    instance = hashlib.sha1(f"{owner}:{chat.id}".encode()).hexdigest()[:16]
    payload = {
        "id": query_id,
        "from": user_json(user),
        "message": shown,
        "chat_instance": str(int(instance, 16) % 10**19),
        "data": data,
    }
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    query = CallbackQuery(query_id, owner, user_id, state.clock.time(), answer)
    emu.callbacks[query_id] = query
    emu.events.callback_query(owner, payload, user_id)
    return query


def _forget_old_queries(emu: Emulator) -> None:
    """Keep the query table small in long runs: answered or expired queries can go."""
    if len(emu.callbacks) < 10_000:
        return
    oldest = emu.state.clock.time() - emu.settings.callback_query_ttl
    for query_id, query in list(emu.callbacks.items()):
        if query.answer.done() or query.created < oldest:
            del emu.callbacks[query_id]


def start_bot(emu: Emulator, user_id: int, bot_id: int | None = None, payload: str = "") -> Message:
    """The user opens the bot and presses Start: a private /start message."""
    bot = emu.state.sole_bot(bot_id)
    emu.state.user(user_id)
    bid = bot.user.id
    if user_id in emu.state.blocked[bid]:
        set_blocked(emu, user_id, bid, False)
    emu.state.started[bid].add(user_id)
    text = f"/start {payload}".strip()
    return post(emu, user_id, user_id, text=text, bot_id=bid)


def set_blocked(emu: Emulator, user_id: int, bot_id: int | None, blocked: bool) -> None:
    bot = emu.state.sole_bot(bot_id)
    bid = bot.user.id
    blocked_set = emu.state.blocked[bid]
    if (user_id in blocked_set) == blocked:
        return
    if blocked:
        blocked_set.add(user_id)
        old, new = Member(MEMBER), Member(KICKED)
    else:
        blocked_set.discard(user_id)
        old, new = Member(KICKED), Member(MEMBER)
    emu.events.private_status(bid, user_id, old, new)
