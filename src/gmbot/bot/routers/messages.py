"""Every other message in a group goes through the gate."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from gmbot.bot import translate
from gmbot.bot.filters import in_group, migrates
from gmbot.bot.services import Services


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(migrated, in_group, migrates)
    router.message.register(gate, in_group)
    router.edited_message.register(gate_edited, in_group)
    return router


async def migrated(message: Message, services: Services) -> None:
    assert message.migrate_to_chat_id is not None
    await services.chat_events.migrated(message.chat.id, message.migrate_to_chat_id)


async def gate(message: Message, services: Services) -> str:
    if not translate.is_user_content(message):
        return "service"
    return await services.gate.on_message(translate.incoming(message))


async def gate_edited(message: Message, services: Services) -> str:
    if not translate.is_user_content(message):
        return "service"
    return await services.gate.on_message(translate.incoming(message, edited=True))
