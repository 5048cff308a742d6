"""The inline settings panel's buttons, sending the panel, and the answers it asks for
in private: thin, the services (services/settings_panel.py, services/private_panel.py)
decide everything."""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import (
    CallbackQuery,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from gmbot.bot import render
from gmbot.bot.filters import data_prefix
from gmbot.bot.refusals import refusal_text
from gmbot.bot.services import Services
from gmbot.domain.telegram import ChatType
from gmbot.domain.telegram_html import MAX_CALLBACK_ANSWER
from gmbot.services.admin_check import Permission
from gmbot.services.private_panel import Reply, Sent
from gmbot.services.settings_panel import EXPIRED, PREFIX, Outcome, Panel, Press, parse_start


def build() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(pressed, data_prefix(PREFIX + ":"))
    return router


async def send_panel(services: Services, to_chat: int, panel: Panel) -> None:
    await services.telegram.send_message(to_chat, panel.text, keyboard=panel.keyboard)


async def open_in_group(message: Message, services: Services) -> bool:
    """`/settings` with no arguments in a group, after the command's admin check:
    False when the group is not protected (nothing sent)."""
    panel = await services.panel.open(message.chat.id, bot_username=services.bot_username)
    if panel is None:
        return False
    await send_panel(services, message.chat.id, panel)
    return True


async def open_in_private(message: Message, services: Services, payload: str | None) -> bool:
    """`/start g<chat id>` in private: False when the payload is not a group's."""
    chat_id = parse_start(payload)
    if chat_id is None or message.from_user is None:
        return False
    await services.private_panel.forget(message.from_user.id)
    result = await services.panel.open_for(chat_id, message.from_user.id, private=True)
    if isinstance(result, Permission):
        await services.telegram.send_message(message.chat.id, refusal_text(result) or "")
    elif isinstance(result, str):
        await services.telegram.send_message(message.chat.id, result)
    else:
        await send_panel(services, message.chat.id, result)
    return True


def _alert(result: Press) -> str | None:
    """The callback answer: the refusal's reason, in plain text (no parse mode there)."""
    text = refusal_text(result.refusal) if result.refusal is not None else None
    text = html.unescape(text) if text is not None else result.notice
    return text[:MAX_CALLBACK_ANSWER] if text is not None else None


async def pressed(query: CallbackQuery, services: Services) -> str:
    message = query.message
    if message is None:  # too old for Telegram to say which message
        await services.telegram.answer_callback(query.id, EXPIRED)
        return Outcome.EXPIRED.value
    if message.chat.type == ChatType.PRIVATE:
        result = await services.private_panel.press(
            query.data,
            query.from_user.id,
            query.from_user.full_name,
            bot_username=services.bot_username,
        )
    else:
        result = await services.panel.press(
            query.data, query.from_user.id, bot_username=services.bot_username
        )
    if result.outcome is Outcome.CLOSED:
        await services.telegram.delete_message(message.chat.id, message.message_id)
    elif result.panel is not None:
        # Edited in place, never re-sent.
        await services.telegram.edit_message(
            message.chat.id, message.message_id, result.panel.text, keyboard=result.panel.keyboard
        )
    await services.telegram.answer_callback(query.id, _alert(result), alert=result.alert)
    return result.outcome.value


async def group_list(message: Message, services: Services, *, quiet: bool = False) -> None:
    """`/settings` in private: the groups the user administers (each asked of Telegram
    now), each opening its panel. quiet: nothing when there is none."""
    if message.from_user is None:
        return
    await services.private_panel.forget(message.from_user.id)
    page = await services.panel.groups_of(message.from_user.id)
    if quiet and not page.keyboard:
        return
    await send_panel(services, message.chat.id, page)


def _sent(message: Message) -> Sent:
    text = message.text if message.text is not None else message.caption
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        return Sent(text, forwarded_channel=origin.chat.id)
    if isinstance(origin, MessageOriginUser):
        return Sent(text, forwarded_user=origin.sender_user.id)
    if isinstance(origin, MessageOriginHiddenUser):
        return Sent(text, forwarded_hidden=True)
    if isinstance(origin, MessageOriginChat):
        return Sent(text, forwarded_chat=True)
    return Sent(text)


async def _send_reply(message: Message, services: Services, reply: Reply) -> None:
    if reply.refusal is not None:
        await services.telegram.send_message(message.chat.id, refusal_text(reply.refusal) or "")
        return
    parts = [render.protect(reply.protected)] if reply.protected is not None else []
    if reply.text:
        parts.append(reply.text)
    if reply.panel is not None:
        parts.append(reply.panel.text)
        await send_panel(services, message.chat.id, Panel("\n\n".join(parts), reply.panel.keyboard))
    elif parts:
        await services.telegram.send_message(message.chat.id, "\n".join(parts))


async def answered(message: Message, services: Services) -> object:
    """Any other private message: the answer to what the panel asked, if it asked."""
    if message.from_user is None:
        return UNHANDLED
    user = message.from_user
    reply = await services.private_panel.receive(user.id, user.full_name, _sent(message))
    if reply is None:
        return UNHANDLED
    await _send_reply(message, services, reply)
    return "panel_answer"


async def cancel(message: Message, services: Services) -> None:
    """/cancel in private: stop waiting for what the panel asked."""
    if message.from_user is None:
        return
    await _send_reply(message, services, await services.private_panel.cancel(message.from_user.id))
