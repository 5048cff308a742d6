"""One-off Bot API access for `gmbot check`, `set-webhook` and `delete-webhook`."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer


def bot_for(api_url: str, token: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))


async def probe_bot_api(api_url: str, token: str) -> str:
    bot = bot_for(api_url, token)
    try:
        me = await bot.get_me()
        info = await bot.get_webhook_info()
    finally:
        await bot.session.close()
    hook = info.url or "none (polling)"
    pending = info.pending_update_count
    return f"@{me.username} (id {me.id}) at {api_url}; webhook: {hook}, pending {pending}"
