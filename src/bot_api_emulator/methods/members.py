"""Moderation: restrict, ban, unban, sender-chat bans, join requests, default permissions."""

from __future__ import annotations

from typing import Any

from bot_api_emulator.errors import (
    CANT_REMOVE_OWNER,
    CANT_RESTRICT_SELF,
    CHAT_ADMIN_REQUIRED,
    CHAT_NOT_FOUND,
    JOIN_REQUEST_MISSING,
    NOT_ENOUGH_RIGHTS_RESTRICT,
    ONLY_SUPERGROUPS,
    SUPERGROUP_AND_CHANNEL_ONLY,
    USER_ALREADY_PARTICIPANT,
    USER_IS_ADMIN,
    USER_NOT_FOUND,
    bad_request,
)
from bot_api_emulator.models import (
    ADMINISTRATOR,
    CREATOR,
    KICKED,
    LEFT,
    MEMBER,
    RESTRICTED,
    Chat,
    Member,
    User,
)
from bot_api_emulator.permissions import grants_at_least, normalize_permissions
from bot_api_emulator.serialize import invite_link_json

from .access import check_migrated, has_right, require_presence, resolve_chat
from .base import Call, method

# until_date closer than 30 seconds or further than 366 days means "forever" (0).
_MIN_UNTIL = 30
_MAX_UNTIL = 366 * 86400


def until_date(call: Call) -> int:
    until = call.params.integer("until_date", 0) or 0
    delta = until - call.now()
    return until if _MIN_UNTIL <= delta <= _MAX_UNTIL else 0


def _permissions(call: Call) -> dict[str, Any]:
    if not call.params.has("permissions"):
        raise bad_request('parameter "permissions" is required')
    value = call.params.json_value("permissions", "permissions")
    if not isinstance(value, dict):
        raise bad_request("object expected as permissions")
    return normalize_permissions(value, call.params.boolean("use_independent_chat_permissions"))


def _moderated(call: Call, *, right: str, types: tuple[str, ...], wrong_type: str) -> Chat:
    """The target chat, after the chat-type and bot-rights checks Telegram makes."""
    chat = resolve_chat(call)
    check_migrated(chat)
    if chat.type not in types:
        raise bad_request(wrong_type)
    if not has_right(require_presence(call, chat), right):
        raise bad_request(
            NOT_ENOUGH_RIGHTS_RESTRICT if right == "can_restrict_members" else CHAT_ADMIN_REQUIRED
        )
    return chat


def _target(call: Call, chat: Chat, user_id: int) -> tuple[User, Member]:
    user = call.state.users.get(user_id)
    if user is None:
        raise bad_request(USER_NOT_FOUND)
    if user_id == call.bot_id:
        raise bad_request(CANT_RESTRICT_SELF)
    member = call.state.member(chat.id, user_id)
    if member.status == CREATOR:
        raise bad_request(CANT_REMOVE_OWNER)
    if member.status == ADMINISTRATOR:
        raise bad_request(USER_IS_ADMIN)
    return user, member


@method("restrictChatMember")
def restrict_chat_member(call: Call) -> bool:
    user_id = call.params.user_id()
    permissions = _permissions(call)
    chat = _moderated(
        call, right="can_restrict_members", types=("supergroup",), wrong_type=ONLY_SUPERGROUPS
    )
    _, current = _target(call, chat, user_id)
    until = until_date(call)
    present = current.is_present
    if grants_at_least(permissions, chat.permissions):
        # Nothing taken away beyond the chat's defaults: Telegram keeps (or makes) them a
        # plain member.
        new = Member(MEMBER if present else LEFT)
    else:
        new = Member(RESTRICTED, until_date=until, permissions=permissions, is_member=present)
    call.emu.events.change_member(chat, user_id, new, call.bot_id, service=False)
    return True


@method("banChatMember")
def ban_chat_member(call: Call) -> bool:
    user_id = call.params.user_id()
    chat = _moderated(
        call,
        right="can_restrict_members",
        types=("group", "supergroup", "channel"),
        wrong_type="chat member status can't be changed in private chats",
    )
    _target(call, chat, user_id)
    # Basic groups have no ban list: the user is just removed.
    new = Member(LEFT) if chat.type == "group" else Member(KICKED, until_date=until_date(call))
    call.emu.events.change_member(chat, user_id, new, call.bot_id)
    return True


@method("unbanChatMember")
def unban_chat_member(call: Call) -> bool:
    user_id = call.params.user_id()
    chat = _moderated(
        call,
        right="can_restrict_members",
        types=("supergroup", "channel"),
        wrong_type=SUPERGROUP_AND_CHANNEL_ONLY,
    )
    current = call.state.member(chat.id, user_id)
    if call.params.boolean("only_if_banned") and current.status != KICKED:
        return True
    _target(call, chat, user_id)
    # Documented: after the call the user is not a member but may join again.
    call.emu.events.change_member(chat, user_id, Member(LEFT), call.bot_id)
    return True


def _sender_chat(call: Call, chat: Chat) -> int:
    sender_chat_id = call.params.integer("sender_chat_id", 0) or 0
    if not sender_chat_id:
        raise bad_request("invalid sender_chat_id specified")
    if sender_chat_id not in call.state.chats:
        raise bad_request(CHAT_NOT_FOUND)
    return sender_chat_id


@method("banChatSenderChat")
def ban_chat_sender_chat(call: Call) -> bool:
    chat = _moderated(
        call,
        right="can_restrict_members",
        types=("supergroup", "channel"),
        wrong_type=SUPERGROUP_AND_CHANNEL_ONLY,
    )
    chat.banned_sender_chats.add(_sender_chat(call, chat))
    return True


@method("unbanChatSenderChat")
def unban_chat_sender_chat(call: Call) -> bool:
    chat = _moderated(
        call,
        right="can_restrict_members",
        types=("supergroup", "channel"),
        wrong_type=SUPERGROUP_AND_CHANNEL_ONLY,
    )
    chat.banned_sender_chats.discard(_sender_chat(call, chat))
    return True


def _join_request_chat(call: Call) -> tuple[Chat, int]:
    user_id = call.params.user_id()
    chat = _moderated(
        call,
        right="can_invite_users",
        types=("group", "supergroup", "channel"),
        wrong_type=CHAT_ADMIN_REQUIRED,
    )
    if user_id not in call.state.users:
        raise bad_request(USER_NOT_FOUND)
    if call.state.member(chat.id, user_id).is_present:
        chat.join_requests.pop(user_id, None)
        raise bad_request(USER_ALREADY_PARTICIPANT)
    return chat, user_id


@method("approveChatJoinRequest")
def approve_chat_join_request(call: Call) -> bool:
    chat, user_id = _join_request_chat(call)
    request = chat.join_requests.pop(user_id, None)
    if request is None:
        raise bad_request(JOIN_REQUEST_MISSING)
    link = chat.invite_links.get(request.invite_link or "")
    call.emu.events.change_member(
        chat,
        user_id,
        Member(MEMBER),
        call.bot_id,
        invite_link=invite_link_json(call.state, link) if link else None,
        via_join_request=True,
    )
    return True


@method("declineChatJoinRequest")
def decline_chat_join_request(call: Call) -> bool:
    chat, user_id = _join_request_chat(call)
    if chat.join_requests.pop(user_id, None) is None:
        raise bad_request(JOIN_REQUEST_MISSING)
    return True


@method("setChatPermissions")
def set_chat_permissions(call: Call) -> bool:
    permissions = _permissions(call)
    chat = _moderated(
        call,
        right="can_restrict_members",
        types=("group", "supergroup"),
        wrong_type="method is available only for groups and supergroups",
    )
    chat.permissions = permissions
    return True
