"""The real gateway as the contract runs it: production code, test-sized waits."""

from __future__ import annotations

import fakeredis
from aiogram import Bot

from gmbot.cache.rate_limiter import RedisRateLimiter
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import AiogramGateway

# A 429 asking for more than this is reported (TelegramUnavailable) rather than waited out.
MAX_RETRY_AFTER = 1.5


def gateway_over(bot: Bot) -> AiogramGateway:
    # With the fleet-wide limiter (Telegram's default limits), as in production.
    limiter = RedisRateLimiter(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    return AiogramGateway(
        bot,
        Metrics("contract"),
        limiter,
        transient_retries=1,
        retry_base=0.01,
        max_retry_after=MAX_RETRY_AFTER,
        call_timeout=5.0,
    )
