"""The real bot process in long-polling mode (SQLite, embedded Redis) against the emulator."""

from __future__ import annotations

import pytest

from bot_api_emulator import EmulatorClient
from tests.e2e_emulator.helpers import (
    BASIC_GROUP,
    NOT_ADMIN,
    NOT_CHANNEL_ADMIN,
    Driver,
    make_world,
    story_auto_unmute,
    story_gate_and_button,
    story_member_passes,
)

pytestmark = [pytest.mark.subprocess, pytest.mark.asyncio(loop_scope="module")]


async def test_gate_prompt_and_verify_by_button(driver: Driver) -> None:
    await story_gate_and_button(driver)


async def test_joining_the_channel_unmutes_automatically(driver: Driver) -> None:
    await story_auto_unmute(driver)


async def test_subscribed_member_passes(driver: Driver) -> None:
    await story_member_passes(driver)


async def test_edited_message_of_non_member_is_removed(driver: Driver) -> None:
    w = driver.world
    before = await driver.post(w.stranger, "harmless, for now")  # before protection
    await driver.barrier()  # handled (let through) before the group is protected
    await driver.protect()
    await driver.mark()
    edited = await driver.client.send_message(
        w.group.id, w.stranger.id, "now an ad: cheap followers", edit_of=before["message_id"]
    )
    assert edited["message_id"] == before["message_id"]
    await driver.wait_gated(w.stranger, before)
    [delete] = await driver.calls("deleteMessages", chat_id=w.group.id)
    assert delete.params["message_ids"] == [before["message_id"]]


async def test_non_admin_cannot_protect(driver: Driver) -> None:
    w = driver.world
    reply = await driver.command(f"/protect @{w.channel.username}", user=w.member)
    assert reply == NOT_ADMIN
    await _stays_unprotected(driver)


async def test_protect_refused_when_bot_is_not_channel_admin(driver: Driver) -> None:
    w = driver.world
    await driver.client.set_member(w.channel.id, w.bot.id, "left")
    reply = await driver.command(f"/protect @{w.channel.username}")
    assert reply.startswith("Nothing was changed"), reply
    assert NOT_CHANNEL_ADMIN in reply
    await _stays_unprotected(driver)


async def test_protect_refused_in_a_basic_group(driver: Driver, client: EmulatorClient) -> None:
    basic = await make_world(client, driver.world.bot, group_type="group")
    d = Driver(client, driver.process, basic, api_url=driver.api_url)
    await d.mark()
    reply = await d.command(f"/protect @{basic.channel.username}")
    assert reply.startswith(BASIC_GROUP), reply
    assert await d.calls("restrictChatMember") == []


async def _stays_unprotected(d: Driver) -> None:
    """A non-member posts freely: the refused /protect changed nothing."""
    hello = await d.post(d.world.stranger, "still open?")
    reply = await d.command("/status")
    assert reply.startswith("This group is not protected"), reply
    assert await d.present(hello)
    assert await d.calls("deleteMessage") == []
    assert await d.calls("deleteMessages") == []
    assert await d.calls("restrictChatMember") == []


async def test_no_conformance_errors(driver: Driver, client: EmulatorClient) -> None:
    """Everything the bot sent so far (and a full story) exists in the real Bot API."""
    await story_member_passes(driver)
    assert await client.conformance_errors() == []
