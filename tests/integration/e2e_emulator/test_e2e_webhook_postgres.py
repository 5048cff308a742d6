"""The real bot process in webhook mode (PostgreSQL, Redis) against the emulator."""

from __future__ import annotations

import aiohttp
import pytest

from bot_api_emulator import Bot, EmulatorClient
from tests.e2e_emulator.helpers import (
    Driver,
    WebhookBot,
    story_auto_unmute,
    story_gate_and_button,
    story_member_passes,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.subprocess,
    pytest.mark.asyncio(loop_scope="session"),
]


async def test_gate_prompt_and_verify_by_button(driver: Driver) -> None:
    await story_gate_and_button(driver)


async def test_joining_the_channel_unmutes_automatically(driver: Driver) -> None:
    await story_auto_unmute(driver)


async def test_subscribed_member_passes(driver: Driver) -> None:
    await story_member_passes(driver)


async def test_updates_arrive_by_webhook_not_polling(
    driver: Driver, client: EmulatorClient, tg_bot: Bot, webhook_bot: WebhookBot
) -> None:
    await driver.protect()
    deliveries = await client.webhook_deliveries(bot_id=tg_bot.id)
    assert deliveries
    assert all(d.url == webhook_bot.webhook.url for d in deliveries)
    assert any(d.ok for d in deliveries)
    assert await client.requests("getUpdates", bot_id=tg_bot.id) == []


async def test_health_and_ready(webhook_bot: WebhookBot) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(webhook_bot.base_url + "/health") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        async with session.get(webhook_bot.base_url + "/ready") as response:
            assert response.status == 200
            body = await response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"


@pytest.mark.parametrize("secret", ["wrong-secret", None])
async def test_wrong_or_missing_secret_is_401(webhook_bot: WebhookBot, secret: str | None) -> None:
    update = {"update_id": 999_999_999, "message": {"message_id": 1}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(webhook_bot.webhook.url, json=update, headers=headers) as response,
    ):
        assert response.status == 401
