"""SIGTERM: stop taking updates, finish the ones in flight, then close everything."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from gmbot.runtime import _serve_webhook
from tests.e2e.harness import ADMIN, GROUP, MEMBER, make_settings, standard_world, start_harness
from tests.fakes.telegram import TelegramWorld
from tests.support import free_port

SECRET = "shutdown_secret"


async def test_drains_in_flight_updates_and_refuses_new_ones(tmp_path: Path) -> None:
    port = free_port()
    world = TelegramWorld()
    standard_world(world)
    settings = make_settings(
        tmp_path,
        webhook_secret=SECRET,
        webhook_url="https://bot.example",
        host="127.0.0.1",
        port=port,
        request_budget=10,
    )
    h = await start_harness(settings, world)
    stop = asyncio.Event()
    server = asyncio.create_task(_serve_webhook(h.runtime, stop))
    base = f"http://127.0.0.1:{port}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # wait for the server to listen
            try:
                async with http.get(f"{base}/health"):
                    break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        assert h.session.called("setWebhook"), "the webhook was not registered"
        protect = {"update_id": 1, "message": h.message_payload(GROUP, ADMIN, "/protect @newschan")}
        async with http.post(f"{base}/webhook", data=json.dumps(protect), headers=headers) as r:
            assert r.status == 200

        # A slow update is in flight when SIGTERM arrives: the group's admin list, loaded
        # in the request, makes Telegram ask for a second's wait.
        h.session.stage(
            "getChatAdministrators", 429, "Too Many Requests: retry after 1", retry_after=1
        )
        slow = {"update_id": 2, "message": h.message_payload(GROUP, MEMBER, "slow")}
        in_flight = asyncio.create_task(
            http.post(f"{base}/webhook", data=json.dumps(slow), headers=headers)
        )
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.sleep(0.1)
        late = {"update_id": 3, "message": h.message_payload(GROUP, MEMBER, "late")}
        try:
            async with http.post(f"{base}/webhook", data=json.dumps(late), headers=headers) as r:
                late_status: int | None = r.status
        except aiohttp.ClientError:
            late_status = None  # the listener was already closed: also a refusal
        response = await in_flight
        assert response.status == 200  # finished, not cut off
        response.release()
        assert late_status in (503, None)
        assert len(h.session.called("getChatAdministrators")) == 2  # it did wait, then ask
    await server
    await h.runtime.stop()
