"""Fixtures for the emulator's own tests: an in-process emulator with fast retry settings,
a small world (bot, users, group, channel), raw Bot API calls and a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot_api_emulator import EmulatorClient, EmulatorServer
from tests.emulator.helpers import SPEC_PATH, Answer, ApiCall, Receiver, World, fast_settings


@pytest.fixture
def spec_path() -> Path:
    if not SPEC_PATH.exists():
        pytest.fail(f"api.json not found at {SPEC_PATH} (GMBOT_API_SPEC)")
    return SPEC_PATH


@pytest.fixture
async def emu(spec_path: Path) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(spec_path=spec_path, settings=fast_settings()) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorServer) -> EmulatorClient:
    return emu.client


@pytest.fixture
async def world(client: EmulatorClient) -> World:
    """A bot that administers a supergroup and a public channel; Alice is in both, Bob in the
    group only; `admin` is a human administrator of the group."""
    bot = await client.create_bot("gm_test_bot")
    alice = await client.create_user("Alice", "alice_user")
    bob = await client.create_user("Bob", "bob_user")
    admin = await client.create_user("Ada", "ada_admin")
    group = await client.create_chat("supergroup", "Group", username="the_group")
    channel = await client.create_chat("channel", "News", username="news_channel")
    await client.set_member(group.id, bot.id, "administrator")
    await client.set_member(channel.id, bot.id, "administrator")
    await client.set_member(group.id, admin.id, "administrator")
    for chat in (group, channel):
        await client.set_member(chat.id, alice.id, "member")
    await client.set_member(group.id, bob.id, "member")
    return World(bot, alice, bob, admin, group, channel)


@pytest.fixture
async def api(emu: EmulatorServer) -> AsyncIterator[ApiCall]:
    """``await api(token, "method", **params)`` sends a JSON Bot API request."""
    async with aiohttp.ClientSession() as session:

        async def call(token: str, method: str, **params: Any) -> Answer:
            url = f"{emu.base_url}/bot{token}/{method}"
            async with session.post(url, json=params) as response:
                return Answer(response.status, await response.json())

        yield call


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield target
    await runner.cleanup()
