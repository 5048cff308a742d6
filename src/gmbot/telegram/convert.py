"""aiogram types to domain values, and back for the few we send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram.types import (
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)

from gmbot.domain.telegram import (
    ChatInfo,
    ChatType,
    Keyboard,
    MemberInfo,
    MemberStatus,
    Permissions,
    complete_permissions,
)

AnyMember = (
    ChatMemberOwner
    | ChatMemberAdministrator
    | ChatMemberMember
    | ChatMemberRestricted
    | ChatMemberLeft
    | ChatMemberBanned
)


def chat_info(chat: ChatFullInfo) -> ChatInfo:
    perms = None
    if chat.permissions is not None:
        given = {k: bool(v) for k, v in chat.permissions.model_dump().items() if v is not None}
        # Complete, so restoring these defaults after a mute gives back every permission.
        perms = complete_permissions(given)
    return ChatInfo(
        id=chat.id,
        type=ChatType(chat.type),
        title=chat.title or chat.full_name or str(chat.id),
        username=chat.username,
        invite_link=chat.invite_link,
        linked_chat_id=chat.linked_chat_id,
        is_forum=bool(chat.is_forum),
        permissions=perms,
    )


def member_info(member: AnyMember) -> MemberInfo:
    status = MemberStatus(member.status)
    rights: frozenset[str] = frozenset()
    if isinstance(member, ChatMemberAdministrator):
        rights = frozenset(
            k for k, v in member.model_dump().items() if k.startswith("can_") and v is True
        )
    return MemberInfo(
        user_id=member.user.id,
        status=status,
        is_member=bool(getattr(member, "is_member", False)),
        is_bot=member.user.is_bot,
        rights=rights,
        until=_until(getattr(member, "until_date", None)),
        can_send_messages=bool(getattr(member, "can_send_messages", True)),
    )


def _until(value: datetime | None) -> datetime | None:
    # Telegram sends until_date 0 for "forever"; aiogram reads it as the Unix epoch.
    if value is None or value.timestamp() == 0:
        return None
    return value


def permissions(perms: Permissions) -> ChatPermissions:
    # Every field explicitly: nothing is left to Telegram's defaults for omitted ones.
    data: dict[str, Any] = complete_permissions(perms)
    return ChatPermissions(**data)


def keyboard(rows: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=b.text, url=b.url, callback_data=b.callback_data)
                for b in row
            ]
            for row in rows
        ]
    )
