"""Telegram's access rules shared by methods: which chats a bot sees, where it may write,
which administrator rights an action needs."""

from __future__ import annotations

from bot_api_emulator.errors import (
    BOT_BLOCKED,
    CANT_INITIATE,
    CANT_TALK_TO_BOTS,
    CHAT_NOT_FOUND,
    GROUP_UPGRADED,
    NEED_CHANNEL_ADMIN,
    NOT_ENOUGH_RIGHTS_SEND_TEXT,
    USER_NOT_FOUND,
    ApiError,
    bad_request,
    forbidden,
)
from bot_api_emulator.models import ADMINISTRATOR, CREATOR, KICKED, RESTRICTED, Chat, Member, User
from bot_api_emulator.permissions import effective
from bot_api_emulator.state import State

from .base import Call


def can_see(state: State, bot_id: int, chat: Chat) -> bool:
    """Private chats of known users, public chats, and chats the bot has been in."""
    if chat.type == "private":
        return True
    if chat.username:
        return True
    return bot_id in state.members.get(chat.id, {})


def resolve_chat(call: Call, name: str = "chat_id") -> Chat:
    ref = call.params.chat_id(name)
    chat = call.state.find_chat(ref)
    if chat is None or not can_see(call.state, call.bot_id, chat):
        raise bad_request(CHAT_NOT_FOUND)
    return chat


def check_migrated(chat: Chat) -> None:
    if chat.migrated_to is not None:
        raise ApiError(400, f"Bad Request: {GROUP_UPGRADED}", migrate_to_chat_id=chat.migrated_to)


def resolve_user(call: Call, name: str = "user_id") -> User:
    user_id = call.params.user_id(name)
    user = call.state.users.get(user_id)
    if user is None:
        raise bad_request(USER_NOT_FOUND)
    return user


def bot_member(call: Call, chat: Chat) -> Member:
    return call.state.member(chat.id, call.bot_id)


def has_right(member: Member, right: str) -> bool:
    if member.status == CREATOR:
        return True
    return member.status == ADMINISTRATOR and member.rights.get(right, False)


def may_initiate(state: State, bot_id: int, user_id: int) -> bool:
    """A bot may write to a user who started it, or who asked to join a chat it manages."""
    if state.has_started(bot_id, user_id):
        return True
    for chat in state.chats.values():
        if user_id in chat.join_requests and has_right(
            state.member(chat.id, bot_id), "can_invite_users"
        ):
            return True
    return False


def require_presence(call: Call, chat: Chat) -> Member:
    """The bot must be in the chat; the error names the chat type as Telegram does."""
    check_migrated(chat)
    member = bot_member(call, chat)
    if member.status == KICKED:
        raise forbidden(f"bot was kicked from the {chat.type} chat")
    if not member.is_present:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return member


def require_can_send(call: Call, chat: Chat) -> None:
    if chat.type == "private":
        user = call.state.users[chat.id]
        if user.is_bot:
            raise forbidden(CANT_TALK_TO_BOTS)
        if chat.id in call.state.blocked.get(call.bot_id, ()):
            raise forbidden(BOT_BLOCKED)
        if not may_initiate(call.state, call.bot_id, chat.id):
            raise forbidden(CANT_INITIATE)
        return
    member = require_presence(call, chat)
    if chat.type == "channel":
        if not has_right(member, "can_post_messages"):
            raise bad_request(NEED_CHANNEL_ADMIN)
        return
    if member.status in (CREATOR, ADMINISTRATOR):
        return
    own = member.permissions if member.status == RESTRICTED else chat.permissions
    if not effective(own, chat.permissions, "can_send_messages"):
        raise bad_request(NOT_ENOUGH_RIGHTS_SEND_TEXT)
