"""How the suite's instances and emulator are configured, and where the services are.

Lease, backoff and timeout lengths are shrunk so the whole suite takes a couple of minutes.
The emulator models no flood limits here (except in test_outbox_cluster's rate test, which
sets Telegram-like ones on both sides), so the instances' own fleet-wide limiter is opened
wide: with Telegram's numbers it would only make every test wait (one report a second to
the same owner, 20 messages a minute in a group), not make it prove more.

Services (env, defaults):
    TEST_POSTGRES_URL   postgresql+asyncpg://postgres@127.0.0.1:5432/test  (admin database;
                        a database gmbot_scale_<random> is created per run and dropped after)
    TEST_REDIS_URL      redis://127.0.0.1:6379/15  (keys under a random namespace per run,
                        deleted after)
"""

from __future__ import annotations

import os

from bot_api_emulator import Bot
from gmbot.delivery.outbox_worker import LANES

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START_TIMEOUT = 60.0

# Per instance: at most POOL + OVERFLOW PostgreSQL connections, and at most
# REDIS_MAX_CONNECTIONS Redis connections, of which each outbox lane (one per kind of work)
# keeps one parked in a blocking read most of the time: REDIS_MAX_CONNECTIONS - OUTBOX_LANES
# are left for the webhook, the caches and the rate limiter.
DB_POOL_SIZE = 2
DB_MAX_OVERFLOW = 2
REDIS_MAX_CONNECTIONS = 20
OUTBOX_LANES = len(LANES)
INSTANCES = 3
# A killed instance's outbox entries move to another after this long (a live one extends
# its claims every third of it).
OUTBOX_CLAIM_AFTER = 2.0

# The instances' fleet-wide limiter, opened wide (see above).
WIDE_RATE_LIMITS = {
    "RATE_WRITES_PER_SECOND": "1000",
    "RATE_WRITES_BURST": "1000",
    "RATE_READS_PER_SECOND": "1000",
    "RATE_READS_BURST": "1000",
    "RATE_GROUP_MESSAGES_PER_MINUTE": "6000",
    "RATE_GROUP_BURST": "100",
    "RATE_PRIVATE_PER_SECOND": "100",
    "RATE_PRIVATE_BURST": "100",
}

INSTANCE_SETTINGS = {
    "DB_POOL_SIZE": str(DB_POOL_SIZE),
    "DB_MAX_OVERFLOW": str(DB_MAX_OVERFLOW),
    "REDIS_MAX_CONNECTIONS": str(REDIS_MAX_CONNECTIONS),
    "OUTBOX_CLAIM_AFTER": str(OUTBOX_CLAIM_AFTER),
    **WIDE_RATE_LIMITS,
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
