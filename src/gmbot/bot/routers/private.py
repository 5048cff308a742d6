"""Private chat: /start, /help, /stats, the settings panel's group list (/settings), and
the answers the panel asks for (/cancel stops)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from gmbot.bot import render
from gmbot.bot.filters import in_private
from gmbot.bot.routers import panel
from gmbot.bot.services import Services


def build() -> Router:
    router = Router(name=__name__)
    router.message.filter(in_private)
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(stats, Command("stats"))
    router.message.register(panel.group_list, Command("settings"))
    router.message.register(panel.cancel, Command("cancel"))
    router.message.register(group_only, Command(*GROUP_COMMANDS))
    # Last: whatever else is sent may answer the panel's question.
    router.message.register(panel.answered)
    return router


GROUP_COMMANDS = ("protect", "unprotect", "status", "exempt", "unexempt", "settings")


async def start(message: Message, services: Services, command: CommandObject) -> None:
    if message.from_user:
        await services.private.started(message.from_user.id)
    if await panel.open_in_private(message, services, command.args):
        return
    await message.answer(render.welcome(services.bot_username), parse_mode="HTML")
    # Then the groups this user may configure, if any (asked of Telegram now).
    await panel.group_list(message, services, quiet=True)


async def help_(message: Message, services: Services) -> None:
    await message.answer(render.welcome(services.bot_username), parse_mode="HTML")


async def stats(message: Message, services: Services) -> None:
    user_id = message.from_user.id if message.from_user else None
    if not services.admin_check.is_operator(user_id):
        await message.answer("/stats is for the bot's operators.")
        return
    await message.answer(render.stats(await services.private.stats()), parse_mode="HTML")


async def group_only(message: Message) -> None:
    await message.answer(render.PRIVATE_ONLY_GROUP)
