"""Bot API JSON shapes of the world's records (User, Chat, ChatFullInfo, ChatMember, Message...).

Each builder emits exactly the fields Telegram emits for that case, so clients that validate
strictly (aiogram's pydantic models) accept them.
"""

from __future__ import annotations

from typing import Any

from .models import (
    ADMINISTRATOR,
    CREATOR,
    KICKED,
    MEMBER,
    RESTRICTED,
    Chat,
    InviteLink,
    Member,
    Message,
    User,
)
from .permissions import PERMISSION_FIELDS, admin_right_names
from .state import State

JSON = dict[str, Any]


def user_json(user: User) -> JSON:
    data: JSON = {"id": user.id, "is_bot": user.is_bot, "first_name": user.first_name}
    if user.last_name:
        data["last_name"] = user.last_name
    if user.username:
        data["username"] = user.username
    if user.language_code:
        data["language_code"] = user.language_code
    if user.is_premium:
        data["is_premium"] = True
    return data


def chat_json(chat: Chat) -> JSON:
    data: JSON = {"id": chat.id, "type": chat.type}
    if chat.type == "private":
        data["first_name"] = chat.first_name
        if chat.last_name:
            data["last_name"] = chat.last_name
    else:
        data["title"] = chat.title
    if chat.username:
        data["username"] = chat.username
    if chat.is_forum:
        data["is_forum"] = True
    return data


def chat_full_json(state: State, chat: Chat, invite_link: str | None) -> JSON:
    data = chat_json(chat)
    data["accent_color_id"] = 0
    data["max_reaction_count"] = 11
    gifts = chat.type == "private"
    data["accepted_gift_types"] = dict.fromkeys(
        ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), gifts
    ) | {"gifts_from_channels": gifts}
    if chat.username:
        data["active_usernames"] = [chat.username]
    if chat.type == "private":
        return data
    if chat.description:
        data["description"] = chat.description
    if invite_link:
        data["invite_link"] = invite_link
    if chat.linked_chat_id:
        data["linked_chat_id"] = chat.linked_chat_id
    if chat.has_protected_content:
        data["has_protected_content"] = True
    if chat.type in ("group", "supergroup"):
        data["permissions"] = {
            name: chat.permissions.get(name, False) for name in PERMISSION_FIELDS
        }
    if chat.type == "supergroup":
        if chat.join_by_request:
            data["join_by_request"] = True
        if chat.join_to_send_messages:
            data["join_to_send_messages"] = True
        if chat.has_hidden_members:
            data["has_hidden_members"] = True
    return data


def member_json(chat: Chat, user: User, member: Member, viewer_id: int) -> JSON:
    status = member.status
    data: JSON = {"status": status, "user": user_json(user)}
    if status == CREATOR:
        data["is_anonymous"] = member.is_anonymous
    elif status == ADMINISTRATOR:
        data["can_be_edited"] = member.promoted_by == viewer_id
        data["is_anonymous"] = member.is_anonymous
        for name in admin_right_names(chat.type, chat.is_forum):
            data[name] = member.rights.get(name, False)
    elif status == RESTRICTED:
        data["is_member"] = member.is_member
        for name in PERMISSION_FIELDS:
            data[name] = member.permissions.get(name, False)
        data["until_date"] = member.until_date
    elif status == KICKED or (status == MEMBER and member.until_date):
        data["until_date"] = member.until_date
    if member.custom_title and status in (CREATOR, ADMINISTRATOR):
        data["custom_title"] = member.custom_title
    return data


def member_updated_json(
    chat: Chat,
    actor: User,
    date: int,
    old: JSON,
    new: JSON,
    *,
    invite_link: JSON | None = None,
    via_join_request: bool = False,
) -> JSON:
    data: JSON = {
        "chat": chat_json(chat),
        "from": user_json(actor),
        "date": date,
        "old_chat_member": old,
        "new_chat_member": new,
    }
    if invite_link is not None:
        data["invite_link"] = invite_link
    if via_join_request:
        data["via_join_request"] = True
    return data


def invite_link_json(state: State, link: InviteLink) -> JSON:
    data: JSON = {
        "invite_link": link.link,
        "creator": user_json(state.users[link.creator_id]),
        "creates_join_request": link.creates_join_request,
        "is_primary": link.is_primary,
        "is_revoked": link.is_revoked,
    }
    if link.name:
        data["name"] = link.name
    if link.expire_date:
        data["expire_date"] = link.expire_date
    if link.member_limit:
        data["member_limit"] = link.member_limit
    if link.creates_join_request:
        data["pending_join_request_count"] = 0
    return data


def _file(message: Message, kind: str) -> JSON:
    uid = f"{kind[:2].upper()}{abs(message.chat_id)}_{message.message_id}"
    return {"file_id": f"AgAC{uid}AQADAgAD", "file_unique_id": uid[:16], "file_size": 1024}


def media_json(message: Message, kind: str) -> JSON:
    """Plausible file objects for user media; only their presence matters to bots."""
    base = _file(message, kind)
    if kind == "photo":
        small = base | {"width": 90, "height": 90, "file_unique_id": base["file_unique_id"] + "s"}
        return {"photo": [small, base | {"width": 800, "height": 800}]}
    if kind == "sticker":
        sticker = base | {"type": "regular", "width": 512, "height": 512}
        return {"sticker": sticker | {"is_animated": False, "is_video": False, "emoji": "🙂"}}
    if kind in ("video", "animation"):
        return {kind: base | {"width": 640, "height": 360, "duration": 5}}
    if kind == "video_note":
        return {"video_note": base | {"length": 240, "duration": 5}}
    if kind in ("voice", "audio"):
        return {kind: base | {"duration": 3}}
    if kind == "document":
        return {"document": base | {"file_name": "file.pdf", "mime_type": "application/pdf"}}
    raise ValueError(kind)


def message_json(state: State, message: Message, *, with_reply: bool = True) -> JSON:
    data: JSON = {"message_id": message.message_id}
    if message.thread_id is not None:
        data["message_thread_id"] = message.thread_id
    if message.sender_id is not None:
        data["from"] = user_json(state.users[message.sender_id])
    if message.sender_chat_id is not None:
        data["sender_chat"] = chat_json(state.chats[message.sender_chat_id])
    data["date"] = message.date
    data["chat"] = chat_json(state.chats[message.chat_id])
    if message.forward_origin is not None:
        data["forward_origin"] = message.forward_origin
    if message.is_topic_message:
        data["is_topic_message"] = True
    if message.is_automatic_forward:
        data["is_automatic_forward"] = True
    if with_reply and message.reply_to is not None:
        replied = state.message(message.chat_id, message.reply_to, message.peer)
        if replied is not None:
            data["reply_to_message"] = message_json(state, replied, with_reply=False)
    if message.edit_date is not None:
        data["edit_date"] = message.edit_date
    if message.author_signature:
        data["author_signature"] = message.author_signature
    if message.text is not None:
        data["text"] = message.text
        if message.entities:
            data["entities"] = message.entities
    if message.media is not None:
        data.update(media_json(message, message.media))
    if message.caption is not None:
        data["caption"] = message.caption
        if message.caption_entities:
            data["caption_entities"] = message.caption_entities
    if message.service:
        data.update(message.service)
    if message.reply_markup is not None:
        data["reply_markup"] = message.reply_markup
    return data
