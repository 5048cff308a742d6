"""chat_member and my_chat_member updates."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatMemberUpdated

from gmbot.bot import translate
from gmbot.bot.services import Services


def build() -> Router:
    router = Router(name=__name__)
    router.my_chat_member.register(bot_member)
    router.chat_member.register(member)
    return router


async def bot_member(update: ChatMemberUpdated, services: Services) -> None:
    await services.chat_events.bot_status_changed(translate.member_change(update))


async def member(update: ChatMemberUpdated, services: Services) -> None:
    await services.chat_events.member_changed(translate.member_change(update))
