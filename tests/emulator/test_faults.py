"""Fault injection and Telegram's flood limits."""

from __future__ import annotations

import time

from bot_api_emulator import EmulatorClient
from tests.emulator.helpers import ApiCall, World


async def test_fixed_error(api: ApiCall, client: EmulatorClient, world: World) -> None:
    await client.add_fault(
        "getChatMember", error_code=500, description="Internal Server Error", times=2
    )
    params = {"chat_id": world.channel.id, "user_id": world.alice.id}
    statuses = [(await api(world.bot.token, "getChatMember", **params)).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    # Other methods are untouched.
    assert (await api(world.bot.token, "getMe")).status == 200


async def test_random_errors_follow_the_seed(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    async def run() -> list[int]:
        await client.clear_faults()
        await client.add_fault(
            "getMe", error_code=502, description="Bad Gateway", probability=0.5, seed=42
        )
        return [(await api(world.bot.token, "getMe")).status for _ in range(20)]

    first, second = await run(), await run()
    assert first == second
    assert 502 in first
    assert 200 in first


async def test_retry_after_per_chat(api: ApiCall, client: EmulatorClient, world: World) -> None:
    await client.add_fault("sendMessage", chat_id=world.group.id, retry_after=7)
    limited = await api(world.bot.token, "sendMessage", chat_id=world.group.id, text="x")
    assert limited.status == 429
    assert limited.body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    other = await client.create_chat("supergroup", "Other")
    await client.set_member(other.id, world.bot.id, "administrator")
    assert (await api(world.bot.token, "sendMessage", chat_id=other.id, text="x")).status == 200


async def test_latency(api: ApiCall, client: EmulatorClient, world: World) -> None:
    await client.add_fault("getChat", latency=0.3)
    started = time.monotonic()
    assert (await api(world.bot.token, "getChat", chat_id=world.group.id)).status == 200
    assert time.monotonic() - started >= 0.3
    faults = await client.faults()
    assert faults["methods"][0]["hits"] == 1


async def test_rate_limits_when_enabled(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token, group = world.bot.token, world.group.id
    for _ in range(25):
        assert (await api(token, "sendMessage", chat_id=group, text="off")).status == 200
    await client.set_rate_limits(True)
    statuses = [
        (await api(token, "sendMessage", chat_id=group, text="on")).status for _ in range(21)
    ]
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429
    limited = await api(token, "sendMessage", chat_id=group, text="on")
    assert limited.body["parameters"]["retry_after"] >= 1
    # Private chats: a short burst, then about one a second.
    await client.user_starts_bot(world.alice.id)
    private = [
        (await api(token, "sendMessage", chat_id=world.alice.id, text="p")).status for _ in range(4)
    ]
    assert private == [200, 200, 200, 429]
