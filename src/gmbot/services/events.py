"""What the routers hand to the services, translated from Telegram updates."""

from __future__ import annotations

from dataclasses import dataclass

from gmbot.domain.telegram import ChatType, MemberInfo


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issued a command: a user, or the group itself (an anonymous admin)."""

    user_id: int | None
    name: str
    as_group: bool = False  # sent on behalf of the group: only its admins can do that


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    chat_id: int
    chat_type: ChatType
    message_id: int
    user_id: int | None
    user_name: str = ""
    user_is_bot: bool = False
    sender_chat_id: int | None = None
    is_automatic_forward: bool = False
    thread_id: int | None = None  # forum topic the message was posted in
    edited: bool = False


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A chat_member or my_chat_member update."""

    chat_id: int
    chat_type: ChatType
    chat_title: str
    user_id: int
    old: MemberInfo
    new: MemberInfo
    actor_id: int | None = None
