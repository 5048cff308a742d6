"""The control side: users are stopped like real clients, state is observable, reset works."""

from __future__ import annotations

import pytest

from bot_api_emulator import EmulatorClient, EmulatorError, EmulatorServer, wait_for
from tests.emulator.helpers import ApiCall, World, fast_settings


async def test_restricted_user_cannot_post(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    await api(
        world.bot.token,
        "restrictChatMember",
        chat_id=world.group.id,
        user_id=world.bob.id,
        permissions={"can_send_messages": False},
    )
    with pytest.raises(EmulatorError) as refused:
        await client.send_message(world.group.id, world.bob.id, "let me speak")
    assert refused.value.status == 403
    assert "can_send_messages is false" in refused.value.message


async def test_media_needs_its_permission(client: EmulatorClient, world: World) -> None:
    await client.update_chat(world.group.id, permissions={"can_send_messages": True})
    with pytest.raises(EmulatorError, match="can_send_photos"):
        await client.send_message(world.group.id, world.bob.id, media="photo")
    # Administrators are not bound by the chat's permissions.
    await client.send_message(world.group.id, world.admin.id, media="photo")


async def test_outsiders_and_banned_users_cannot_post(client: EmulatorClient, world: World) -> None:
    stranger = await client.create_user("Stan")
    with pytest.raises(EmulatorError, match="not a member"):
        await client.send_message(world.group.id, stranger.id, "hi")
    await client.set_member(world.group.id, stranger.id, "kicked")
    with pytest.raises(EmulatorError, match="banned"):
        await client.send_message(world.group.id, stranger.id, "hi")
    with pytest.raises(EmulatorError, match="banned"):
        await client.join_chat(world.group.id, stranger.id)


async def test_rejoining_keeps_restrictions(client: EmulatorClient, world: World) -> None:
    await client.set_member(world.group.id, world.bob.id, "restricted", can_send_messages=False)
    await client.leave_chat(world.group.id, world.bob.id)
    left = await client.member(world.group.id, world.bob.id)
    assert (left["status"], left["is_member"]) == ("restricted", False)
    await client.join_chat(world.group.id, world.bob.id)
    back = await client.member(world.group.id, world.bob.id)
    assert (back["status"], back["is_member"]) == ("restricted", True)


async def test_ban_until_date_expires(api: ApiCall, client: EmulatorClient, world: World) -> None:
    now = await client.advance_clock(0)
    await api(
        world.bot.token,
        "banChatMember",
        chat_id=world.group.id,
        user_id=world.bob.id,
        until_date=now + 3600,
    )
    assert (await client.member(world.group.id, world.bob.id))["status"] == "kicked"
    await client.advance_clock(3601)
    assert (await client.member(world.group.id, world.bob.id))["status"] == "left"


async def test_messages_view_and_wait_helpers(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    await client.send_message(world.group.id, world.alice.id, "one")
    await api(world.bot.token, "sendMessage", chat_id=world.group.id, text="two")
    texts = [m.get("text") for m in await client.messages(world.group.id)]
    assert texts[-2:] == ["one", "two"]
    found = await client.wait_for_message(world.group.id, lambda m: m.get("text") == "two")
    assert found["from"]["id"] == world.bot.id
    record = await client.wait_for_request("sendMessage")
    assert record.params["text"] == "two"
    with pytest.raises(TimeoutError, match="never became kicked"):
        await client.wait_for_member_status(world.group.id, world.alice.id, "kicked", timeout=0.1)


async def test_press_without_answer_times_out(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]}
    sent = (
        await api(
            world.bot.token, "sendMessage", chat_id=world.group.id, text="?", reply_markup=markup
        )
    ).result
    answer = await client.press_button(
        world.group.id, sent["message_id"], world.bob.id, "x", timeout=0.1
    )
    assert not answer.answered
    with pytest.raises(EmulatorError, match="no button"):
        await client.press_button(world.group.id, sent["message_id"], world.bob.id, "other")


async def test_control_errors_are_clear(client: EmulatorClient, world: World) -> None:
    with pytest.raises(EmulatorError) as error:
        await client.create_chat("megagroup", "Nope")
    assert error.value.status == 400
    with pytest.raises(EmulatorError, match="already taken"):
        await client.create_user("Copy", "alice_user")
    with pytest.raises(EmulatorError, match="does not exist"):
        await client.member(world.group.id, 42)


async def test_bulk_and_stats(client: EmulatorClient, world: World) -> None:
    result = await client.bulk_messages([world.group.id], [world.alice.id, world.bob.id], 50)
    assert result["created"] == 50
    stats = await client.stats()
    assert stats["bots"][str(world.bot.id)]["pending"] >= 50
    updates = await client.updates()
    assert updates[-1]["update"]["message"]["text"] == "hello"


async def test_reset_keeps_configured_bots() -> None:
    token = "123456:ABCdef_ghi-jkl"
    async with EmulatorServer(tokens=[f"{token},fixed_test_bot"], settings=fast_settings()) as emu:
        client = emu.client
        await client.create_user("Temp")
        await client.reset()
        assert (await client.health())["bots"] == 1
        assert list(emu.state.bots) == [123456]
        assert emu.state.bots[123456].user.username == "fixed_test_bot"
        assert len(emu.state.users) == 1


async def test_wait_for_reports_its_message() -> None:
    async def never() -> None:
        return None

    with pytest.raises(TimeoutError, match="the thing"):
        await wait_for(never, timeout=0.05, message="the thing")
