"""Control-side changes to chats and memberships: set a status, join, leave, ask to join,
create forum topics, upgrade a group, edit chat settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ControlError
from .models import (
    ADMINISTRATOR,
    CREATOR,
    KICKED,
    LEFT,
    MEMBER,
    RESTRICTED,
    STATUSES,
    Chat,
    JoinRequest,
    Member,
)
from .permissions import PERMISSION_FIELDS, build_admin_rights, normalize_permissions
from .serialize import chat_json, invite_link_json, member_json, user_json

if TYPE_CHECKING:
    from .core import Emulator

_CHAT_SETTINGS = (
    "title",
    "description",
    "join_by_request",
    "join_to_send_messages",
    "has_hidden_members",
    "has_protected_content",
)


def _group_chat(emu: Emulator, chat_id: int) -> Chat:
    chat = emu.state.chat(chat_id)
    if chat.type == "private":
        raise ControlError(400, "memberships of private chats can't be changed")
    return chat


def set_member(
    emu: Emulator,
    chat_id: int,
    user_id: int,
    status: str,
    *,
    actor_id: int | None = None,
    service: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """Give a user (or a bot) a status; rights/permissions come as can_* keyword fields."""
    chat = _group_chat(emu, chat_id)
    user = emu.state.user(user_id)
    if status not in STATUSES:
        raise ControlError(400, f"status must be one of {STATUSES}")
    until = int(fields.pop("until_date", 0) or 0)
    is_anonymous = bool(fields.pop("is_anonymous", False))
    custom_title = fields.pop("custom_title", None)
    is_member = bool(fields.pop("is_member", True))
    unknown = [k for k in fields if not k.startswith("can_")]
    if unknown:
        raise ControlError(400, f"unknown fields {unknown}")
    actor = actor_id if actor_id is not None else chat.creator_id or user_id
    if status == CREATOR:
        previous = chat.creator_id
        if previous is not None and previous != user_id:
            rights = build_admin_rights(chat.type, chat.is_forum, {}, fill=True)
            emu.events.change_member(chat, previous, Member(ADMINISTRATOR, rights=rights), user_id)
        chat.creator_id = user_id
        member = Member(CREATOR, is_anonymous=is_anonymous, custom_title=custom_title)
    elif status == ADMINISTRATOR:
        rights = build_admin_rights(chat.type, chat.is_forum, fields, fill=True)
        member = Member(
            ADMINISTRATOR,
            rights=rights,
            is_anonymous=is_anonymous,
            custom_title=custom_title,
            promoted_by=actor,
        )
    elif status == RESTRICTED:
        permissions = normalize_permissions(fields, independent=True)
        member = Member(RESTRICTED, until_date=until, permissions=permissions, is_member=is_member)
    else:
        member = Member(status, until_date=until if status in (KICKED, MEMBER) else 0)
    emu.events.change_member(chat, user_id, member, actor, service=service)
    return member_json(chat, user, member, viewer_id=0)


def join(
    emu: Emulator, chat_id: int, user_id: int, invite_link: str | None = None
) -> dict[str, Any]:
    """The user joins (by username or invite link); a link requiring approval files a request."""
    chat = _group_chat(emu, chat_id)
    user = emu.state.user(user_id)
    current = emu.state.member(chat.id, user_id)
    if current.status == KICKED:
        raise ControlError(403, f"user {user_id} is banned in chat {chat.id}")
    if current.is_present:
        raise ControlError(409, f"user {user_id} is already in chat {chat.id}")
    link = None
    if invite_link is not None:
        link = chat.invite_links.get(invite_link)
        if link is None or link.is_revoked:
            raise ControlError(404, f"invite link {invite_link} is not valid for chat {chat.id}")
        if link.creates_join_request:
            return request_join(emu, chat.id, user_id, invite_link=invite_link)
    elif chat.join_by_request:
        return request_join(emu, chat.id, user_id)
    if current.status == RESTRICTED:
        # A restricted user who left keeps the restrictions on coming back.
        new = Member(
            RESTRICTED,
            until_date=current.until_date,
            permissions=dict(current.permissions),
            is_member=True,
        )
    else:
        new = Member(MEMBER)
    emu.events.change_member(
        chat,
        user_id,
        new,
        user_id,
        invite_link=invite_link_json(emu.state, link) if link else None,
    )
    return member_json(chat, user, new, viewer_id=0)


def leave(emu: Emulator, chat_id: int, user_id: int) -> dict[str, Any]:
    chat = _group_chat(emu, chat_id)
    user = emu.state.user(user_id)
    current = emu.state.member(chat.id, user_id)
    if not current.is_present:
        raise ControlError(409, f"user {user_id} is not in chat {chat.id}")
    if current.status == CREATOR:
        raise ControlError(400, "the owner can't leave without transferring ownership")
    if current.status == RESTRICTED:
        new = Member(
            RESTRICTED,
            until_date=current.until_date,
            permissions=dict(current.permissions),
            is_member=False,
        )
    else:
        new = Member(LEFT)
    emu.events.change_member(chat, user_id, new, user_id)
    return member_json(chat, user, new, viewer_id=0)


def request_join(
    emu: Emulator,
    chat_id: int,
    user_id: int,
    *,
    bio: str | None = None,
    invite_link: str | None = None,
) -> dict[str, Any]:
    chat = _group_chat(emu, chat_id)
    user = emu.state.user(user_id)
    date = emu.state.clock.now()
    chat.join_requests[user_id] = JoinRequest(user_id, date, bio, invite_link)
    payload: dict[str, Any] = {
        "chat": chat_json(chat),
        "from": user_json(user),
        "user_chat_id": user_id,
        "date": date,
    }
    if bio:
        payload["bio"] = bio
    link = chat.invite_links.get(invite_link or "")
    if link is not None:
        payload["invite_link"] = invite_link_json(emu.state, link)
    emu.events.join_request(chat, payload)
    return {"status": "pending", "user_id": user_id, "chat_id": chat.id}


def create_topic(emu: Emulator, chat_id: int, name: str, actor_id: int | None = None) -> int:
    chat = emu.state.chat(chat_id)
    if not chat.is_forum:
        raise ControlError(400, f"chat {chat_id} is not a forum")
    actor = actor_id or chat.creator_id
    assert actor is not None
    message = emu.events.service(
        chat, actor, {"forum_topic_created": {"name": name, "icon_color": 7322096}}
    )
    message.thread_id = message.message_id
    message.is_topic_message = True
    chat.topics[message.message_id] = name
    return message.message_id


def migrate(emu: Emulator, chat_id: int) -> Chat:
    """Upgrade a basic group to a supergroup, as Telegram does when a group grows."""
    state = emu.state
    old = emu.state.chat(chat_id)
    if old.type != "group" or old.migrated_to is not None:
        raise ControlError(400, "only a basic group can be upgraded, once")
    new = state.add_chat("supergroup", old.title or "", creator_id=old.creator_id)
    new.permissions = dict(old.permissions)
    new.migrated_from = old.id
    for user_id, member in list(state.members.get(old.id, {}).items()):
        state.set_member(new.id, user_id, member)
    old.migrated_to = new.id
    actor = old.creator_id or 0
    emu.events.service(old, actor, {"migrate_to_chat_id": new.id})
    emu.events.service(new, actor, {"migrate_from_chat_id": old.id})
    return new


def update_chat(emu: Emulator, chat_id: int, values: dict[str, Any]) -> Chat:
    chat = emu.state.chat(chat_id)
    for key, value in values.items():
        if key == "permissions":
            if not isinstance(value, dict) or any(k not in PERMISSION_FIELDS for k in value):
                raise ControlError(400, "permissions must be a ChatPermissions object")
            chat.permissions = normalize_permissions(value, independent=True)
        elif key == "linked_chat_id":
            link_chats(emu, chat, value)
        elif key in _CHAT_SETTINGS:
            setattr(chat, key, value)
        else:
            raise ControlError(400, f"chat field {key!r} can't be changed")
    return chat


def link_chats(emu: Emulator, chat: Chat, other_id: int | None) -> None:
    """A channel and its discussion group point at each other."""
    if chat.linked_chat_id is not None and chat.linked_chat_id in emu.state.chats:
        emu.state.chats[chat.linked_chat_id].linked_chat_id = None
    chat.linked_chat_id = other_id
    if other_id is not None:
        other = emu.state.chat(other_id)
        if {chat.type, other.type} != {"channel", "supergroup"}:
            raise ControlError(400, "a channel can be linked only with a supergroup")
        other.linked_chat_id = chat.id
