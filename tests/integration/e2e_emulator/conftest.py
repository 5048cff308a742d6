"""The real bot in webhook mode (ENVIRONMENT=production) against the in-process emulator.

Needs PostgreSQL (the session's `postgres_url` database from tests/integration/conftest.py;
the bot migrates it at start-up) and Redis (TEST_REDIS_URL, default
redis://127.0.0.1:6379/15, under a random REDIS_NAMESPACE whose keys are deleted afterwards).

One emulator and one bot process serve the module; each test gets a fresh world through
`driver`. The bot listens on 127.0.0.1:<free port>, registers its webhook with the emulator,
and is ready once GET /ready answers 200 and the emulator has seen setWebhook. It always
ends at teardown (SIGTERM, then SIGKILL), printing its output.
"""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot_api_emulator import Bot, EmulatorClient, EmulatorServer, Settings
from tests.e2e_emulator.helpers import (
    Driver,
    Webhook,
    WebhookBot,
    base_env,
    make_world,
    start_bot,
    stop_bot,
)
from tests.fakes.api_spec import require_spec, spec_path
from tests.support import free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def api_spec() -> Path:
    require_spec()
    return spec_path()


@pytest.fixture(scope="module")
def redis_url() -> str:
    parts = urlsplit(REDIS_URL)
    address = (parts.hostname or "127.0.0.1", parts.port or 6379)
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError as exc:
        pytest.fail(
            f"Redis is unreachable at {REDIS_URL} ({exc!r}): the redis tests need a running "
            "server (make test-integration); start it or point TEST_REDIS_URL at one.",
            pytrace=False,
        )
    return REDIS_URL


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def redis_namespace(redis_url: str) -> AsyncIterator[str]:
    namespace = f"gmbot-e2e-{uuid.uuid4().hex[:12]}:"
    yield namespace
    client: Redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def emu(api_spec: Path) -> AsyncIterator[EmulatorServer]:
    settings = Settings(webhook_timeout=10.0, backoff_base=0.05, backoff_max=0.5)
    async with EmulatorServer(port=0, spec_path=api_spec, settings=settings) as server:
        yield server
        problems = await server.client.conformance_errors()
    assert problems == [], f"the bot made requests the Bot API would not accept: {problems}"


@pytest.fixture(scope="module")
def client(emu: EmulatorServer) -> EmulatorClient:
    return emu.client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tg_bot(client: EmulatorClient) -> Bot:
    return await client.create_bot("gm_webhook_bot", first_name="GMBot")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def webhook_bot(
    emu: EmulatorServer,
    tg_bot: Bot,
    postgres_url: str,
    redis_url: str,
    redis_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WebhookBot]:
    workdir = tmp_path_factory.mktemp("gmbot-webhook")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)
    env = base_env(
        tg_bot,
        emu.base_url,
        ENVIRONMENT="production",
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        REDIS_NAMESPACE=redis_namespace,
        WEBHOOK_URL=base_url,
        WEBHOOK_PATH="/webhook",
        WEBHOOK_SECRET=secret,
        HOST="127.0.0.1",
        PORT=str(port),
        DB_POOL_SIZE="5",
        REDIS_MAX_CONNECTIONS="10",
    )

    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            async with session.get(
                base_url + "/ready", timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                if response.status != 200:
                    return False
            return bool(await emu.client.requests("setWebhook", bot_id=tg_bot.id))

        process = await start_bot(
            env, workdir, ready, what="the bot's /ready never answered 200 with its webhook set"
        )
    try:
        yield WebhookBot(process, base_url, Webhook(base_url + "/webhook", secret))
    finally:
        await stop_bot(process)
    assert process.returncode == 0, f"the bot exited with {process.returncode} on SIGTERM"


@pytest_asyncio.fixture(loop_scope="session")
async def driver(emu: EmulatorServer, tg_bot: Bot, webhook_bot: WebhookBot) -> Driver:
    world = await make_world(emu.client, tg_bot)
    driver = Driver(
        emu.client,
        webhook_bot.process,
        world,
        api_url=emu.base_url,
        webhook=webhook_bot.webhook,
    )
    await driver.mark()
    return driver
