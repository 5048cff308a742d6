"""Reading chats and members: getChat, getChatMember, getChatAdministrators,
getChatMemberCount, leaveChat."""

from __future__ import annotations

from typing import Any

from bot_api_emulator.errors import MEMBER_LIST_INACCESSIBLE, USER_NOT_FOUND, bad_request, forbidden
from bot_api_emulator.models import ADMIN_STATUSES, CREATOR, KICKED, LEFT, MEMBER, Member
from bot_api_emulator.serialize import chat_full_json, member_json

from .access import (
    bot_member,
    check_migrated,
    has_right,
    require_presence,
    resolve_chat,
    resolve_user,
)
from .base import Call, method
from .misc import primary_invite_link


@method("getChat")
def get_chat(call: Call) -> dict[str, Any]:
    chat = resolve_chat(call)
    check_migrated(chat)
    invite = None
    if chat.type != "private" and has_right(bot_member(call, chat), "can_invite_users"):
        invite = primary_invite_link(call, chat).link
    return chat_full_json(call.state, chat, invite)


@method("getChatMember")
def get_chat_member(call: Call) -> dict[str, Any]:
    chat = resolve_chat(call)
    user = resolve_user(call)
    check_migrated(chat)
    state = call.state
    if chat.type == "private":
        if user.id not in (chat.id, call.bot_id):
            raise bad_request(USER_NOT_FOUND)
        return member_json(chat, user, Member(MEMBER), call.bot_id)
    if user.id != call.bot_id:
        own = state.member(chat.id, call.bot_id)
        if own.status == KICKED:
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        # Channels (and supergroups with hidden members) show members to administrators only.
        if (chat.type == "channel" or chat.has_hidden_members) and own.status not in ADMIN_STATUSES:
            raise bad_request(MEMBER_LIST_INACCESSIBLE)
    return member_json(chat, user, state.member(chat.id, user.id), call.bot_id)


@method("getChatAdministrators")
def get_chat_administrators(call: Call) -> list[dict[str, Any]]:
    chat = resolve_chat(call)
    check_migrated(chat)
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    state = call.state
    if chat.type == "channel" and bot_member(call, chat).status not in ADMIN_STATUSES:
        raise bad_request(MEMBER_LIST_INACCESSIBLE)
    return_bots = call.params.boolean("return_bots")
    admins: list[dict[str, Any]] = []
    for user_id in list(state.members.get(chat.id, {})):
        member = state.member(chat.id, user_id)
        if member.status not in ADMIN_STATUSES:
            continue
        user = state.users[user_id]
        # Other bots are left out unless asked for (return_bots).
        if user.is_bot and user_id != call.bot_id and not return_bots:
            continue
        entry = member_json(chat, user, member, call.bot_id)
        if member.status == CREATOR:
            admins.insert(0, entry)
        else:
            admins.append(entry)
    return admins


@method("getChatMemberCount")
def get_chat_member_count(call: Call) -> int:
    chat = resolve_chat(call)
    check_migrated(chat)
    if chat.type == "private":
        return 1 + (chat.id != call.bot_id)
    state = call.state
    return sum(
        1
        for user_id in list(state.members.get(chat.id, {}))
        if state.member(chat.id, user_id).is_present
    )


@method("leaveChat")
def leave_chat(call: Call) -> bool:
    chat = resolve_chat(call)
    if chat.type == "private":
        raise bad_request("chat member status can't be changed in private chats")
    require_presence(call, chat)
    call.emu.events.change_member(chat, call.bot_id, Member(LEFT), call.bot_id)
    return True
