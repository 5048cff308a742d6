"""Admin commands in groups."""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import LinkPreviewOptions, Message

from gmbot.bot import render, translate
from gmbot.bot.filters import in_group
from gmbot.bot.refusals import refusal_text
from gmbot.bot.routers import panel
from gmbot.bot.services import Services
from gmbot.services.gate import Verdict
from gmbot.services.group_settings import SettingsError

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def build() -> Router:
    router = Router(name=__name__)
    router.message.filter(in_group)
    router.message.register(protect, Command("protect"))
    router.message.register(unprotect, Command("unprotect"))
    router.message.register(status, Command("status"))
    router.message.register(exempt, Command("exempt", "unexempt"))
    router.message.register(settings, Command("settings"))
    return router


async def _reply(message: Message, text: str) -> None:
    await message.reply(text, parse_mode="HTML", link_preview_options=NO_PREVIEW)


async def _admin_or_refuse(message: Message, services: Services) -> bool:
    permission = await services.admin_check.may_configure(message.chat.id, translate.actor(message))
    refusal = refusal_text(permission)
    if refusal is None:
        return True
    # A non-admin's command is still a message: the gate sees it first, and the
    # refusal is only sent when the message stays.
    verdict = await services.gate.on_message(translate.incoming(message))
    if verdict in (Verdict.PASSED, Verdict.IGNORED, Verdict.FAIL_OPEN, Verdict.DRY_RUN):
        await _reply(message, refusal)  # which right is missing, or why it could not tell
    return False


def _args(command: CommandObject) -> list[str]:
    return (command.args or "").replace(",", " ").split()


async def protect(message: Message, command: CommandObject, services: Services) -> None:
    if not await _admin_or_refuse(message, services):
        return
    actor = translate.actor(message)
    result = await services.protection.protect_chat(message.chat.id, actor, _args(command))
    await _reply(message, render.protect(result))


async def unprotect(message: Message, command: CommandObject, services: Services) -> None:
    if not await _admin_or_refuse(message, services):
        return
    actor = translate.actor(message)
    result = await services.protection.unprotect(message.chat.id, actor, _args(command))
    await _reply(message, render.unprotect(result))


async def status(message: Message, services: Services) -> None:
    if not await _admin_or_refuse(message, services):
        return
    await _reply(message, render.status(await services.group_admin.status_of(message.chat.id)))


async def exempt(message: Message, command: CommandObject, services: Services) -> None:
    if not await _admin_or_refuse(message, services):
        return
    add = command.command.lower() == "exempt"
    target = _target_user(message, command)
    if target is None:
        await _reply(
            message,
            f"Reply to a message of the user with /{command.command}, "
            f"or give a numeric user id: <code>/{command.command} 123456789</code>.",
        )
        return
    changed = await services.group_admin.exempt(
        message.chat.id, translate.actor(message), target, add
    )
    if add:
        text = "now exempt from the channel check" if changed else "was already exempt"
    else:
        text = "no longer exempt" if changed else "was not exempt"
    await _reply(message, f"User <code>{target}</code> {text}.")


async def settings(message: Message, command: CommandObject, services: Services) -> None:
    if not await _admin_or_refuse(message, services):
        return
    # The value is taken as typed (a prompt template keeps its spaces and commas).
    # The key ends at the first space or line break: "/settings text" may be followed
    # by a template on the next lines.
    key, value = [*(command.args or "").split(None, 1), "", ""][:2]
    if not key:
        if await panel.open_in_group(message, services):
            return
        await _reply(message, "This group is not protected yet: use /protect @channel first.")
        return
    if key.lower() == "preview" and not value.strip():
        user = message.from_user
        problem = await services.group_admin.preview_prompt(
            message.chat.id,
            user.id if user is not None else 0,
            user.full_name if user is not None else "",
            message.message_thread_id if message.is_topic_message else None,
        )
        if problem is not None:
            await _reply(message, html.escape(problem, quote=False))
        return
    if not value.strip():
        usage = html.escape(render.settings_usage(), quote=False)
        await _reply(message, f"Usage:\n{usage}")
        return
    try:
        new = await services.group_admin.update_settings(message.chat.id, key, value.strip())
    except SettingsError as err:
        # Plain text, often quoting what the admin typed: escaped for HTML parse mode.
        await _reply(message, html.escape(str(err), quote=False))
        return
    await _reply(message, render.saved(key, new))


def _target_user(message: Message, command: CommandObject) -> int | None:
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and not reply.from_user.is_bot:
        return reply.from_user.id
    args = _args(command)
    if len(args) == 1 and args[0].isdigit():
        return int(args[0])
    return None
