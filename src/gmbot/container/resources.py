"""The process's connections, as async resources the container opens and closes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.cache.redis_client import create_redis
from gmbot.config import ConfigError, Settings
from gmbot.db.engine import create_engine
from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import BotIdentity, TelegramError


@dataclass(frozen=True, slots=True)
class Pools:
    """How many connections to hold, and the name they show to PostgreSQL and Redis."""

    db_size: int
    db_overflow: int
    redis_max: int
    db_name: str
    redis_name: str

    @classmethod
    def for_instance(cls, settings: Settings) -> Pools:
        return cls(
            settings.db_pool_size,
            settings.db_max_overflow,
            settings.redis_max_connections,
            # PostgreSQL truncates application_name to 63 bytes.
            f"gmbot:{settings.instance_id}"[:63],
            settings.instance_id,
        )

    @classmethod
    def for_command(cls, command: str) -> Pools:
        """A one-off command (`gmbot migrate`, `check`, ...) needs a connection or two."""
        return cls(1, 0, 2, f"gmbot:{command}", "")


async def engine_resource(settings: Settings, pools: Pools) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        settings.database_url,
        pool_size=pools.db_size,
        max_overflow=pools.db_overflow,
        application_name=pools.db_name,
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def redis_resource(settings: Settings, pools: Pools) -> AsyncIterator[Redis]:
    client, _embedded = create_redis(
        settings.redis_url, max_connections=pools.redis_max, namespace_hint=pools.redis_name
    )
    try:
        yield client
    finally:
        await client.aclose()


async def bot_resource(settings: Settings) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(settings.token, session=session, default=DefaultBotProperties(parse_mode=None))
    try:
        yield bot
    finally:
        await bot.session.close()


async def identity_resource(settings: Settings, telegram: TelegramGateway) -> BotIdentity:
    """getMe, once: the first thing a bad token or an unreachable Bot API fails."""
    try:
        return await telegram.get_me()
    except TelegramError as err:
        raise ConfigError(
            f"the Bot API at {settings.telegram_api_url} refused the token or did "
            f"not answer ({err.description}); check BOT_TOKEN and TELEGRAM_API_URL"
        ) from None


def bot_id_from(settings: Settings) -> int:
    return int(settings.token.partition(":")[0] or 0)
