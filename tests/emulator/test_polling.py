"""getUpdates: offsets, limits, long polling, allowed_updates and the 409 conflicts."""

from __future__ import annotations

import asyncio
import time

from bot_api_emulator import EmulatorClient
from tests.emulator.helpers import ApiCall, World


async def _drain(api: ApiCall, token: str) -> int:
    """Confirm everything pending; returns the next offset."""
    updates = (await api(token, "getUpdates")).result
    offset = updates[-1]["update_id"] + 1 if updates else 0
    await api(token, "getUpdates", offset=offset)
    return offset


async def test_offset_confirms_and_limit(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    for i in range(5):
        await client.send_message(world.group.id, world.alice.id, f"m{i}")
    first = (await api(token, "getUpdates", offset=offset, limit=2)).result
    assert [u["message"]["text"] for u in first] == ["m0", "m1"]
    ids = [u["update_id"] for u in first]
    assert ids == sorted(ids)
    assert ids[1] == ids[0] + 1
    rest = (await api(token, "getUpdates", offset=ids[1] + 1)).result
    assert [u["message"]["text"] for u in rest] == ["m2", "m3", "m4"]
    # Confirmed updates are gone for good.
    again = (await api(token, "getUpdates", offset=ids[0])).result
    assert [u["message"]["text"] for u in again] == ["m2", "m3", "m4"]
    info = (await api(token, "getWebhookInfo")).result
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 3}


async def test_negative_offset_keeps_the_last(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    for i in range(3):
        await client.send_message(world.group.id, world.alice.id, f"n{i}")
    last = (await api(world.bot.token, "getUpdates", offset=-1)).result
    assert [u["message"]["text"] for u in last] == ["n2"]


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    started = time.monotonic()
    poll = asyncio.create_task(api(token, "getUpdates", offset=offset, timeout=10))
    await asyncio.sleep(0.1)
    await client.send_message(world.group.id, world.alice.id, "wake up")
    updates = (await poll).result
    assert [u["message"]["text"] for u in updates] == ["wake up"]
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_empty(api: ApiCall, world: World) -> None:
    offset = await _drain(api, world.bot.token)
    started = time.monotonic()
    assert (await api(world.bot.token, "getUpdates", offset=offset, timeout=1)).result == []
    assert time.monotonic() - started >= 0.9


async def test_second_long_poll_terminates_the_first(api: ApiCall, world: World) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    first = asyncio.create_task(api(token, "getUpdates", offset=offset, timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(api(token, "getUpdates", offset=offset, timeout=1))
    answer = await first
    assert answer.status == 409
    assert answer.description == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    assert (await second).result == []


async def test_get_updates_while_webhook_is_set(api: ApiCall, world: World) -> None:
    token = world.bot.token
    set_answer = await api(token, "setWebhook", url="http://127.0.0.1:9/hook")
    assert set_answer.body == {"ok": True, "result": True, "description": "Webhook was set"}
    answer = await api(token, "getUpdates")
    assert answer.status == 409
    assert answer.description == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    deleted = await api(token, "deleteWebhook")
    assert deleted.body["description"] == "Webhook was deleted"
    assert (await api(token, "getUpdates")).status == 200


async def test_set_webhook_ends_a_waiting_poll(api: ApiCall, world: World) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    poll = asyncio.create_task(api(token, "getUpdates", offset=offset, timeout=5))
    await asyncio.sleep(0.1)
    await api(token, "setWebhook", url="http://127.0.0.1:9/hook")
    answer = await poll
    assert (answer.status, answer.description) == (
        409,
        "Conflict: terminated by setWebhook request",
    )


async def test_allowed_updates_filter_new_updates(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    await api(token, "getUpdates", offset=offset, allowed_updates=["callback_query"])
    await client.send_message(world.group.id, world.alice.id, "ignored")
    assert (await api(token, "getUpdates", offset=offset)).result == []
    # An empty list restores the default set (everything but chat_member and reactions).
    await api(token, "getUpdates", offset=offset, allowed_updates=[])
    await client.send_message(world.group.id, world.alice.id, "seen")
    texts = [u["message"]["text"] for u in (await api(token, "getUpdates", offset=offset)).result]
    assert texts == ["seen"]


async def test_update_ids_are_monotonic_per_bot(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    other = await client.create_bot("second_helper_bot")
    await client.set_member(world.group.id, other.id, "administrator")
    for i in range(3):
        await client.send_message(world.group.id, world.alice.id, f"x{i}")
    for token in (world.bot.token, other.token):
        ids = [u["update_id"] for u in (await api(token, "getUpdates")).result]
        assert ids == list(range(ids[0], ids[0] + len(ids)))


async def test_pause_holds_updates(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token = world.bot.token
    offset = await _drain(api, token)
    await client.pause_delivery()
    await client.send_message(world.group.id, world.alice.id, "held")
    assert (await api(token, "getUpdates", offset=offset)).result == []
    poll = asyncio.create_task(api(token, "getUpdates", offset=offset, timeout=5))
    await asyncio.sleep(0.05)
    await client.resume_delivery()
    assert [u["message"]["text"] for u in (await poll).result] == ["held"]
