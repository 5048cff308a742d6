"""The message log: when each message appeared and when (and by whom) it was deleted, the
wait of each webhook delivery, and the time of the last Bot API request."""

from __future__ import annotations

import asyncio
import time

from bot_api_emulator import EmulatorClient, MessageLife
from bot_api_emulator.journal import MessageLog
from tests.emulator.helpers import ApiCall, Receiver, World


def _by_id(log: list[MessageLife]) -> dict[int, MessageLife]:
    return {m.message_id: m for m in log}


async def test_posts_sends_and_deletions_are_logged_with_their_times(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    before = time.time()
    first = await client.send_message(group, world.bob.id, "one")
    second = await client.send_message(group, world.bob.id, "two")
    notice = (await api(token, "sendMessage", chat_id=group, text="notice")).result
    await asyncio.sleep(0.05)
    assert (await api(token, "deleteMessage", chat_id=group, message_id=first["message_id"])).result
    ids = [second["message_id"], notice["message_id"]]
    assert (await api(token, "deleteMessages", chat_id=group, message_ids=ids)).result

    log = _by_id(await client.message_log(group))
    one, two, sent = (log[m["message_id"]] for m in (first, second, notice))
    assert (one.sender_id, one.from_bot) == (world.bob.id, False)
    assert (sent.sender_id, sent.from_bot) == (world.bot.id, True)
    for record in (one, two, sent):
        assert record.deleted_by == world.bot.id
        assert record.deleted_at is not None
        assert before <= record.posted_at <= record.deleted_at <= time.time()
    assert one.exposure is not None
    assert one.exposure >= 0.05
    # The deleted messages are gone from the chat but not from the log.
    visible = {m["message_id"] for m in await client.messages(group)}
    assert not visible & {one.message_id, two.message_id, sent.message_id}
    assert visible <= set(log)


async def test_a_refused_deletion_leaves_the_message_visible_in_the_log(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    spam = await client.send_message(group, world.bob.id, "spam")
    await client.settings(rate_global_per_second=1)
    await client.set_rate_limits(True)
    assert (
        await api(token, "unbanChatMember", chat_id=group, user_id=world.alice.id)
    ).status == 200
    refused = await api(token, "deleteMessage", chat_id=group, message_id=spam["message_id"])
    assert refused.status == 429
    record = _by_id(await client.message_log(group))[spam["message_id"]]
    assert (record.deleted_at, record.deleted_by, record.exposure) == (None, None, None)


async def test_a_second_deletion_keeps_the_first_time(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    spam = await client.send_message(group, world.bob.id, "spam")
    assert (
        await api(token, "deleteMessage", chat_id=group, message_id=spam["message_id"])
    ).status == 200
    first = _by_id(await client.message_log(group))[spam["message_id"]].deleted_at
    again = await api(token, "deleteMessage", chat_id=group, message_id=spam["message_id"])
    assert again.status == 400
    assert _by_id(await client.message_log(group))[spam["message_id"]].deleted_at == first


async def test_the_log_is_filtered_by_chat_and_cleared_by_reset(
    client: EmulatorClient, world: World
) -> None:
    await client.send_message(world.group.id, world.bob.id, "in the group")
    await client.send_message(world.bob.id, world.bob.id, "to the bot")
    group_log = await client.message_log(world.group.id)
    assert {m.chat_id for m in group_log} == {world.group.id}
    private = [m for m in await client.message_log() if m.chat_id == world.bob.id]
    assert [m.peer for m in private] == [world.bot.id]
    await client.reset()
    assert await client.message_log() == []


def test_the_log_drops_its_oldest_records_beyond_its_limit() -> None:
    log = MessageLog(limit=2)
    for message_id in (1, 2, 3):
        log.posted(-100, 0, message_id, 7, None, False)
    assert [key[2] for key in log.records] == [2, 3]
    log.deleted(-100, 0, 1, by=9)  # forgotten: nothing to update, no error
    log.deleted(-100, 0, 3, by=9)
    assert log.records[(-100, 0, 3)].deleted_by == 9


async def test_a_delivery_records_how_long_the_update_waited(
    api: ApiCall, client: EmulatorClient, world: World, receiver: Receiver
) -> None:
    answer = await api(world.bot.token, "setWebhook", url=receiver.url, drop_pending_updates=True)
    assert answer.result is True
    await client.pause_delivery()
    await client.send_message(world.group.id, world.alice.id, "held")
    await asyncio.sleep(0.3)
    await client.resume_delivery()
    await receiver.wait_count(1)
    await client.wait_until_delivered()
    (delivery,) = await client.webhook_deliveries(update_id=receiver.ids()[0])
    assert delivery.ok
    assert 0.3 <= delivery.waited < 5


async def test_stats_tell_when_the_last_request_came(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    assert (await client.stats())["last_request_at"] is None
    before = time.time()
    await api(world.bot.token, "getMe")
    last = (await client.stats())["last_request_at"]
    assert before <= last <= time.time()
