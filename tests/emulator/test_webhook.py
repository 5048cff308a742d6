"""Webhook delivery: secret header, redelivery, timeouts, Retry-After, ordering, info."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot_api_emulator import Delivery, EmulatorClient
from tests.emulator.helpers import ApiCall, Receiver, World


async def _hook(api: ApiCall, world: World, receiver: Receiver, **params: object) -> None:
    # Start from a clean queue so counts below only see the test's own updates.
    answer = await api(
        world.bot.token, "setWebhook", url=receiver.url, drop_pending_updates=True, **params
    )
    assert answer.result is True


async def test_delivery_with_secret_header(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await _hook(api, world, receiver, secret_token="s3cr3t-Token_1")
    await client.send_message(world.group.id, world.alice.id, "hello")
    await receiver.wait_count(1)
    assert receiver.updates[0]["message"]["text"] == "hello"
    assert receiver.headers[0]["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t-Token_1"
    assert receiver.headers[0]["Content-Type"] == "application/json"
    await client.wait_until_delivered()
    info = (await api(world.bot.token, "getWebhookInfo")).result
    assert info["url"] == receiver.url
    assert info["pending_update_count"] == 0
    assert info["max_connections"] == 40
    assert "last_error_date" not in info


async def test_redelivery_after_error_status(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await _hook(api, world, receiver)
    receiver.statuses = [503, 500]
    await client.send_message(world.group.id, world.alice.id, "again")
    await receiver.wait_count(3)
    await client.wait_until_delivered()
    assert len(set(receiver.ids())) == 1
    deliveries = await client.webhook_deliveries(update_id=receiver.ids()[0])
    assert [(d.attempt, d.status, d.ok) for d in deliveries] == [
        (1, 503, False),
        (2, 500, False),
        (3, 200, True),
    ]
    info = (await api(world.bot.token, "getWebhookInfo")).result
    assert (
        info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert isinstance(info["last_error_date"], int)


async def test_slow_answer_means_the_update_comes_twice(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await client.settings(webhook_timeout=0.2)
    await _hook(api, world, receiver)
    receiver.delay = 0.5
    await client.send_message(world.group.id, world.alice.id, "slow")
    await receiver.wait_count(2)
    receiver.delay = 0
    await client.wait_until_delivered()
    ids = receiver.ids()
    assert ids[0] == ids[1]
    errors = [d.error for d in await client.webhook_deliveries(update_id=ids[0]) if not d.ok]
    assert errors[0] == "Read timeout expired"


async def test_retry_after_is_honoured(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    # Scale 0.01: "Retry-After: 30" waits 0.3 s instead of resending at once.
    await _hook(api, world, receiver)
    receiver.statuses = [429]
    receiver.retry_after = "30"
    await client.send_message(world.group.id, world.alice.id, "later")
    await receiver.wait_count(2)
    deliveries = await client.webhook_deliveries(update_id=receiver.ids()[0])
    assert deliveries[1].at - deliveries[0].at >= 0.28


async def test_connection_refused_is_retried(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    await api(world.bot.token, "setWebhook", url="http://127.0.0.1:9/nothing-listens")
    await client.send_message(world.group.id, world.alice.id, "x")
    deliveries = await client.wait(
        lambda: _failed(client), timeout=5, message="no failed delivery recorded"
    )
    assert deliveries[0].error == "Connection refused"
    info = (await api(world.bot.token, "getWebhookInfo")).result
    assert info["pending_update_count"] >= 1
    assert info["last_error_message"] == "Connection refused"


async def _failed(client: EmulatorClient) -> list[Delivery] | None:
    rows = [d for d in await client.webhook_deliveries() if not d.ok]
    return rows if len(rows) >= 2 else None


async def test_order_within_a_chat_under_concurrency(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    chats = []
    for i in range(6):
        chat = await client.create_chat("supergroup", f"Room {i}")
        await client.set_member(chat.id, world.bot.id, "administrator")
        await client.set_member(chat.id, world.alice.id, "member")
        chats.append(chat.id)
    await _hook(api, world, receiver, max_connections=8)
    receiver.delay = 0.01
    receiver.statuses = [500, 200, 503] * 4  # failures must not reorder a chat
    per_chat = 15
    for n in range(per_chat):
        for chat_id in chats:
            await client.send_message(chat_id, world.alice.id, str(n))
    await client.wait_until_delivered(timeout=20)
    seen: dict[int, list[int]] = defaultdict(list)
    for update in receiver.updates:
        message = update["message"]
        texts = seen[message["chat"]["id"]]
        if not texts or texts[-1] != int(message["text"]):  # a redelivery repeats the last one
            texts.append(int(message["text"]))
    assert all(seen[c] == list(range(per_chat)) for c in chats)


async def test_one_update_in_flight_per_chat(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    chats = []
    for i in range(4):
        chat = await client.create_chat("supergroup", f"Raid {i}")
        await client.set_member(chat.id, world.bot.id, "administrator")
        await client.set_member(chat.id, world.alice.id, "member")
        chats.append(chat.id)
    await _hook(api, world, receiver, max_connections=16)
    receiver.delay = 0.05
    per_chat = 5
    for n in range(per_chat):
        for chat_id in chats:
            await client.send_message(chat_id, world.alice.id, str(n))
    await client.wait_until_delivered(timeout=20)
    # Connections to spare, yet each chat waits for its previous answer: strict order.
    assert receiver.peak_in_flight == dict.fromkeys(chats, 1)
    for chat_id in chats:
        texts = [
            int(u["message"]["text"])
            for u in receiver.updates
            if u["message"]["chat"]["id"] == chat_id
        ]
        assert texts == list(range(per_chat))
    # Meanwhile different chats were answered at the same time.
    assert receiver.peak_total > 1


async def test_chats_are_delivered_concurrently(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    chats = []
    for i in range(10):
        chat = await client.create_chat("supergroup", f"Busy {i}")
        await client.set_member(chat.id, world.bot.id, "administrator")
        await client.set_member(chat.id, world.alice.id, "member")
        chats.append(chat.id)
    await _hook(api, world, receiver, max_connections=10)
    receiver.delay = 0.3
    loop = asyncio.get_running_loop()
    started = loop.time()
    for chat_id in chats:
        await client.send_message(chat_id, world.alice.id, "x")
    await client.wait_until_delivered(timeout=10)
    # Ten chats at 0.3 s each: concurrent delivery takes about 0.3 s, not 3 s.
    assert loop.time() - started < 1.5


async def test_method_in_webhook_answer_is_executed(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await _hook(api, world, receiver)
    receiver.answer = (
        b'{"method":"sendMessage","chat_id":' + str(world.group.id).encode() + b',"text":"pong"}'
    )
    await client.send_message(world.group.id, world.alice.id, "ping")
    record = await client.wait_for_request("sendMessage")
    assert record.via == "webhook_response"
    assert record.ok
    await client.wait_for_message(world.group.id, lambda m: m.get("text") == "pong")


async def test_injected_delivery_faults(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await _hook(api, world, receiver)
    await client.add_webhook_fault("drop", times=1)
    await client.add_webhook_fault("lose_response", times=1)
    await client.send_message(world.group.id, world.alice.id, "fragile")
    await client.wait_until_delivered()
    ids = receiver.ids()
    # Dropped once (never reached the bot), then sent but the answer lost: the bot sees it twice.
    assert len(ids) == 2
    assert ids[0] == ids[1]
    attempts = await client.webhook_deliveries(update_id=ids[0])
    assert [(d.error, d.ok) for d in attempts] == [
        ("Connection refused", False),
        ("Read timeout expired", False),
        (None, True),
    ]


async def test_pause_and_resume(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    await _hook(api, world, receiver)
    await client.pause_delivery()
    await client.send_message(world.group.id, world.alice.id, "held")
    await asyncio.sleep(0.2)
    assert receiver.updates == []
    await client.resume_delivery()
    await receiver.wait_count(1)


async def test_setwebhook_twice_and_secret_validation(
    api: ApiCall, world: World, receiver: Receiver
) -> None:
    token = world.bot.token
    assert (await api(token, "setWebhook", url=receiver.url)).body["description"] == (
        "Webhook was set"
    )
    assert (await api(token, "setWebhook", url=receiver.url)).body["description"] == (
        "Webhook is already set"
    )
    bad = await api(token, "setWebhook", url=receiver.url, secret_token="no spaces")
    assert bad.status == 400
    info = (
        await api(
            token,
            "getWebhookInfo",
        )
    ).result
    assert info["url"] == receiver.url
