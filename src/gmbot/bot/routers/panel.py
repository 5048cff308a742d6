"""The inline settings panel's buttons, and sending the panel: thin, the service
(services/settings_panel.py) decides everything."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from gmbot.bot.filters import data_prefix
from gmbot.bot.services import Services
from gmbot.domain.telegram import ChatType
from gmbot.services.settings_panel import EXPIRED, PREFIX, Outcome, Panel, parse_start


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
    result = await services.panel.open_for(chat_id, message.from_user.id, private=True)
    if isinstance(result, str):
        await services.telegram.send_message(message.chat.id, result)
    else:
        await send_panel(services, message.chat.id, result)
    return True


async def pressed(query: CallbackQuery, services: Services) -> str:
    message = query.message
    if message is None:  # too old for Telegram to say which message
        await services.telegram.answer_callback(query.id, EXPIRED)
        return Outcome.EXPIRED.value
    private = message.chat.type == ChatType.PRIVATE
    result = await services.panel.press(
        query.data, query.from_user.id, private=private, bot_username=services.bot_username
    )
    if result.outcome is Outcome.CLOSED:
        await services.telegram.delete_message(message.chat.id, message.message_id)
    elif result.panel is not None:
        # Edited in place, never re-sent.
        await services.telegram.edit_message(
            message.chat.id, message.message_id, result.panel.text, keyboard=result.panel.keyboard
        )
    await services.telegram.answer_callback(query.id, result.notice, alert=result.alert)
    return result.outcome.value


async def group_list(message: Message, services: Services) -> None:
    """`/settings` in private: the groups the user administers, each opening its panel."""
    if message.from_user is None:
        return
    page = await services.panel.groups_of(message.from_user.id)
    await send_panel(services, message.chat.id, page)
