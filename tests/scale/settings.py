"""How the suite's instances and emulator are configured, and where the services are.

Lease, backoff and timeout lengths are shrunk so the whole suite takes a couple of minutes.

Services (env, defaults):
    TEST_POSTGRES_URL   postgresql+asyncpg://postgres@127.0.0.1:5432/test  (admin database;
                        a database gmbot_scale_<random> is created per run and dropped after)
    TEST_REDIS_URL      redis://127.0.0.1:6379/15  (keys under a random namespace per run,
                        deleted after)
"""

from __future__ import annotations

import os

from bot_api_emulator import Bot

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START_TIMEOUT = 60.0

# Per instance: at most POOL + OVERFLOW PostgreSQL connections.
DB_POOL_SIZE = 2
DB_MAX_OVERFLOW = 2
INSTANCES = 3

INSTANCE_SETTINGS = {
    "DB_POOL_SIZE": str(DB_POOL_SIZE),
    "DB_MAX_OVERFLOW": str(DB_MAX_OVERFLOW),
    "REDIS_MAX_CONNECTIONS": "20",
    # A dead holder's claim lapses after 5 s (renewed every third of it while alive).
    "UPDATE_LEASE": "5",
    "UPDATE_MAX_ATTEMPTS": "10",
    "DUPLICATE_RETRY_AFTER": "1",
    "LEADER_LEASE": "2",
    "REQUEST_BUDGET": "10",
    "AUTO_MIGRATE": "true",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "RECHECK_INTERVAL": "0",
}

# The emulator: an update not answered 2xx within 2 s is re-sent; retries come fast.
EMULATOR_SETTINGS = {
    "webhook_timeout": "2",
    "backoff_base": "0.1",
    "backoff_max": "1",
    "retry_after_scale": "0.3",
}


def instance_env(
    *,
    bot: Bot,
    api_url: str,
    database_url: str,
    redis_url: str,
    namespace: str,
    instance_id: str,
    **extra: str,
) -> dict[str, str]:
    return {
        **INSTANCE_SETTINGS,
        "BOT_TOKEN": bot.token,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "INSTANCE_ID": instance_id,
        **extra,
    }
