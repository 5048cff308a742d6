"""Telegram's flood limits as separate buckets: writes, reads and each chat's messages."""

from __future__ import annotations

import asyncio
from typing import Any

from bot_api_emulator import EmulatorClient
from tests.emulator.helpers import Answer, ApiCall, World


async def _limits(client: EmulatorClient, **values: Any) -> None:
    await client.settings(**values)
    await client.set_rate_limits(True)


async def _group(client: EmulatorClient, world: World, title: str) -> int:
    chat = await client.create_chat("supergroup", title)
    await client.set_member(chat.id, world.bot.id, "administrator")
    await client.set_member(chat.id, world.bob.id, "member")
    return chat.id


def _limited(answer: Answer) -> int:
    """The retry_after of a 429, checking the answer is Telegram's."""
    assert answer.status == 429, answer.body
    seconds = answer.body["parameters"]["retry_after"]
    assert isinstance(seconds, int)
    assert seconds >= 1
    assert answer.body == {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {seconds}",
        "parameters": {"retry_after": seconds},
    }
    return seconds


async def test_writes_trip_at_their_limit_and_a_refused_delete_deletes_nothing(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    spam = await client.send_message(group, world.bob.id, "spam")
    await _limits(client, rate_global_per_second=3)
    restrict = {"chat_id": group, "user_id": world.bob.id, "permissions": {}}
    for _ in range(3):
        assert (await api(token, "restrictChatMember", **restrict)).status == 200
    _limited(await api(token, "deleteMessage", chat_id=group, message_id=spam["message_id"]))
    assert spam["message_id"] in [m["message_id"] for m in await client.messages(group)]


async def test_a_refused_restriction_restricts_nothing(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await _limits(client, rate_global_per_second=1)
    assert (
        await api(token, "unbanChatMember", chat_id=group, user_id=world.alice.id)
    ).status == 200
    params = {"chat_id": group, "user_id": world.bob.id, "permissions": {}}
    _limited(await api(token, "restrictChatMember", **params))
    _limited(await api(token, "banChatMember", chat_id=group, user_id=world.bob.id))
    assert (await client.member(group, world.bob.id))["status"] == "member"


async def test_a_refused_message_is_not_sent(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await _limits(client, rate_global_per_second=2)
    for text in ("one", "two"):
        assert (await api(token, "sendMessage", chat_id=group, text=text)).status == 200
    _limited(await api(token, "sendMessage", chat_id=group, text="three"))
    texts = [m.get("text") for m in await client.messages(group)]
    assert "two" in texts
    assert "three" not in texts


async def test_delete_messages_is_one_write(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    posted = [await client.send_message(group, world.bob.id, f"m{n}") for n in range(5)]
    ids = [m["message_id"] for m in posted]
    await _limits(client, rate_global_per_second=2)
    assert (await api(token, "deleteMessages", chat_id=group, message_ids=ids[:4])).status == 200
    assert (await api(token, "deleteMessage", chat_id=group, message_id=ids[4])).status == 200
    _limited(await api(token, "deleteMessages", chat_id=group, message_ids=ids))


async def test_reads_trip_at_their_limit_without_blocking_writes(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await _limits(client, rate_reads_per_second=3, rate_global_per_second=3)
    member = {"chat_id": group, "user_id": world.bob.id}
    reads = [
        (await api(token, "getChatMember", **member)).status,
        (await api(token, "getChat", chat_id=group)).status,
        (await api(token, "getChatAdministrators", chat_id=group)).status,
    ]
    assert reads == [200, 200, 200]
    _limited(await api(token, "getChatMemberCount", chat_id=group))
    # Reads exhausted: writes still have their whole budget, and use it up in turn.
    for text in ("a", "b", "c"):
        assert (await api(token, "sendMessage", chat_id=group, text=text)).status == 200
    _limited(await api(token, "sendMessage", chat_id=group, text="d"))
    _limited(await api(token, "getChat", chat_id=group))


async def test_writes_exhausted_do_not_block_reads(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await _limits(client, rate_global_per_second=1)
    assert (await api(token, "sendMessage", chat_id=group, text="x")).status == 200
    _limited(await api(token, "sendMessage", chat_id=group, text="y"))
    assert (await api(token, "getChatMember", chat_id=group, user_id=world.bob.id)).status == 200


async def test_a_group_budget_does_not_block_another_group(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, busy = world.bot.token, world.group.id
    quiet = await _group(client, world, "Quiet")
    await _limits(client, rate_group_per_minute=3)
    for _ in range(3):
        assert (await api(token, "sendMessage", chat_id=busy, text="raid")).status == 200
    seconds = _limited(await api(token, "sendMessage", chat_id=busy, text="raid"))
    assert 55 <= seconds <= 60  # the oldest of the minute's messages leaves in about a minute
    assert (await api(token, "sendMessage", chat_id=quiet, text="calm")).status == 200
    # The group's budget holds messages only: the bot still moderates the busy group.
    assert (await api(token, "banChatMember", chat_id=busy, user_id=world.bob.id)).status == 200


async def test_private_chats_have_their_own_budgets(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await client.user_starts_bot(world.alice.id)
    await client.user_starts_bot(world.bob.id)
    await _limits(client, rate_private_burst=2)
    for _ in range(2):
        assert (await api(token, "sendMessage", chat_id=world.alice.id, text="p")).status == 200
    _limited(await api(token, "sendMessage", chat_id=world.alice.id, text="p"))
    assert (await api(token, "sendMessage", chat_id=world.bob.id, text="p")).status == 200


async def test_waiting_retry_after_succeeds(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await _limits(client, rate_global_per_second=2, rate_reads_per_second=2)
    for _ in range(2):
        await api(token, "deleteMessage", chat_id=group, message_id=9999)  # 400s count too
        await api(token, "getChat", chat_id=group)
    write = _limited(await api(token, "sendMessage", chat_id=group, text="late"))
    read = _limited(await api(token, "getChat", chat_id=group))
    await asyncio.sleep(max(write, read))
    assert (await api(token, "sendMessage", chat_id=group, text="late")).status == 200
    assert (await api(token, "getChat", chat_id=group)).status == 200


async def test_waiting_retry_after_succeeds_in_a_private_chat(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await client.user_starts_bot(world.alice.id)
    await _limits(client, rate_private_burst=1, rate_private_per_second=1.0)
    assert (await api(token, "sendMessage", chat_id=world.alice.id, text="1")).status == 200
    seconds = _limited(await api(token, "sendMessage", chat_id=world.alice.id, text="2"))
    await asyncio.sleep(seconds)
    assert (await api(token, "sendMessage", chat_id=world.alice.id, text="2")).status == 200


async def test_unlimited_methods_and_limits_off(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await client.settings(rate_global_per_second=1, rate_reads_per_second=1)
    # Off (the default): nothing is counted.
    for _ in range(5):
        assert (await api(token, "getChat", chat_id=group)).status == 200
        assert (await api(token, "sendMessage", chat_id=group, text="x")).status == 200
    await client.set_rate_limits(True)
    # getMe, getWebhookInfo and the like are in no bucket.
    for _ in range(5):
        assert (await api(token, "getMe")).status == 200
        assert (await api(token, "getWebhookInfo")).status == 200
    await client.set_rate_limits(False)
    for _ in range(3):
        assert (await api(token, "sendMessage", chat_id=group, text="x")).status == 200


async def test_delete_messages_rules(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token, group = world.bot.token, world.group.id
    empty = await api(token, "deleteMessages", chat_id=group, message_ids=[])
    assert (empty.status, empty.description) == (
        400,
        "Bad Request: message identifier is not specified",
    )
    too_many = await api(token, "deleteMessages", chat_id=group, message_ids=list(range(1, 102)))
    assert too_many.status == 400
    posted = [await client.send_message(group, world.bob.id, f"m{n}") for n in range(100)]
    ids = [m["message_id"] for m in posted]
    assert (await api(token, "deleteMessages", chat_id=group, message_ids=ids)).result is True
    assert not [m for m in await client.messages(group) if m["message_id"] in ids]
    # One the bot may not delete is skipped; the rest go.
    keep = await client.send_message(group, world.bob.id, "old")
    await client.advance_clock(48 * 3600)
    fresh = await client.send_message(group, world.bob.id, "new")
    both = [keep["message_id"], fresh["message_id"]]
    assert (await api(token, "deleteMessages", chat_id=group, message_ids=both)).result is True
    left = [m["message_id"] for m in await client.messages(group)]
    assert keep["message_id"] in left
    assert fresh["message_id"] not in left
