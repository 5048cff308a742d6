"""One-off Bot API access for `gmbot check`."""

from __future__ import annotations

from aiogram import Bot


async def describe_bot_api(bot: Bot, api_url: str) -> str:
    me = await bot.get_me()
    info = await bot.get_webhook_info()
    hook = info.url or "none (polling)"
    pending = info.pending_update_count
    return f"@{me.username} (id {me.id}) at {api_url}; webhook: {hook}, pending {pending}"
