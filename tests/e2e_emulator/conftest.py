"""The real bot (`python -m gmbot run`, long polling) against the in-process emulator.

One emulator and one bot process serve the whole module (starting the bot takes seconds);
each test gets a fresh world of its own (people, a supergroup, a channel) through `driver`.
Async fixtures and tests share the module's event loop (`loop_scope="module"`).

The bot process always ends at teardown (SIGTERM, then SIGKILL), and its output is printed
then, so a failing test shows it. At the end of the module the emulator must have recorded no
Bot API conformance error: every method and parameter the bot used exists in api.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot_api_emulator import Bot, EmulatorClient, EmulatorServer
from gmbot.demo.process import BotProcess
from tests.e2e_emulator.helpers import (
    Driver,
    make_world,
    polling_env,
    polling_ready,
    seed_update,
    start_bot,
    stop_bot,
)
from tests.fakes.api_spec import require_spec, spec_path


@pytest.fixture(scope="module")
def api_spec() -> Path:
    require_spec()
    return spec_path()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def emu(api_spec: Path) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(port=0, spec_path=api_spec) as server:
        yield server
        problems = await server.client.conformance_errors()
    assert problems == [], f"the bot made requests the Bot API would not accept: {problems}"


@pytest.fixture(scope="module")
def client(emu: EmulatorServer) -> EmulatorClient:
    return emu.client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg_bot(client: EmulatorClient) -> Bot:
    return await client.create_bot("gm_e2e_bot", first_name="GMBot")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot_process(
    emu: EmulatorServer, tg_bot: Bot, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("gmbot-polling")
    await seed_update(emu.client, tg_bot)
    process = await start_bot(
        polling_env(tg_bot, emu.base_url, workdir),
        workdir,
        polling_ready(emu.client, tg_bot),
        what="the bot never called getUpdates",
    )
    try:
        yield process
    finally:
        await stop_bot(process)
    assert process.returncode == 0, f"the bot exited with {process.returncode} on SIGTERM"


@pytest_asyncio.fixture(loop_scope="module")
async def driver(emu: EmulatorServer, tg_bot: Bot, bot_process: BotProcess) -> Driver:
    world = await make_world(emu.client, tg_bot)
    driver = Driver(emu.client, bot_process, world, api_url=emu.base_url)
    await driver.mark()
    return driver
