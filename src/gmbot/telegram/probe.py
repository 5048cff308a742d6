"""One-off Bot API calls for `gmbot check`, `set-webhook` and `delete-webhook`."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from gmbot.bot.dispatcher import ALLOWED_UPDATES
from gmbot.config import Settings


def _bot(api_url: str, token: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))


async def probe_bot_api(api_url: str, token: str) -> str:
    bot = _bot(api_url, token)
    try:
        me = await bot.get_me()
        info = await bot.get_webhook_info()
    finally:
        await bot.session.close()
    hook = info.url or "none (polling)"
    pending = info.pending_update_count
    return f"@{me.username} (id {me.id}) at {api_url}; webhook: {hook}, pending {pending}"


async def set_webhook(settings: Settings) -> str:
    bot = _bot(settings.telegram_api_url, settings.token)
    try:
        await bot.set_webhook(
            settings.webhook_target,
            secret_token=settings.secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )
    finally:
        await bot.session.close()
    return f"webhook set to {settings.webhook_target}"


async def delete_webhook(settings: Settings) -> str:
    bot = _bot(settings.telegram_api_url, settings.token)
    try:
        await bot.delete_webhook(drop_pending_updates=False)
    finally:
        await bot.session.close()
    return "webhook deleted (pending updates kept)"
