"""aiogram objects to the services' event types."""

from __future__ import annotations

from aiogram.types import ChatMemberUpdated, Message

from gmbot.domain.telegram import USER_CONTENT_TYPES, ChatType
from gmbot.services.events import Actor, IncomingMessage, MemberChange
from gmbot.telegram.convert import member_info


def is_user_content(message: Message) -> bool:
    # Text is by far the most common: skip aiogram's long content-type scan for it.
    return message.text is not None or message.content_type in USER_CONTENT_TYPES


def incoming(message: Message, *, edited: bool = False) -> IncomingMessage:
    user = message.from_user
    return IncomingMessage(
        chat_id=message.chat.id,
        chat_type=ChatType(message.chat.type),
        message_id=message.message_id,
        user_id=user.id if user else None,
        user_name=user.full_name if user else "",
        user_is_bot=bool(user and user.is_bot),
        sender_chat_id=message.sender_chat.id if message.sender_chat else None,
        is_automatic_forward=bool(message.is_automatic_forward),
        thread_id=message.message_thread_id if message.is_topic_message else None,
        edited=edited,
    )


def actor(message: Message) -> Actor:
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return Actor(user_id=None, name=message.chat.title or "group admin", as_group=True)
    user = message.from_user
    return Actor(user_id=user.id if user else None, name=user.full_name if user else "")


def member_change(update: ChatMemberUpdated) -> MemberChange:
    return MemberChange(
        chat_id=update.chat.id,
        chat_type=ChatType(update.chat.type),
        chat_title=update.chat.title or str(update.chat.id),
        user_id=update.new_chat_member.user.id,
        old=member_info(update.old_chat_member),
        new=member_info(update.new_chat_member),
        actor_id=update.from_user.id if update.from_user else None,
    )
