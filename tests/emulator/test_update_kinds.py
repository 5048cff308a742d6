"""Which updates which bot receives: chat_member rules, my_chat_member, privacy mode,
channel posts, automatic forwards, callback queries, join requests, edits."""

from __future__ import annotations

from typing import Any

from bot_api_emulator import EmulatorClient
from tests.emulator.helpers import ApiCall, World

ALL = [
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
]


async def _kinds(api: ApiCall, token: str) -> list[tuple[str, dict[str, Any]]]:
    updates = (await api(token, "getUpdates")).result
    if updates:
        await api(token, "getUpdates", offset=updates[-1]["update_id"] + 1)
    return [(k, u[k]) for u in updates for k in u if k != "update_id"]


async def test_chat_member_only_when_asked_and_admin(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await _kinds(api, token)
    # Default allowed_updates: no chat_member.
    await client.leave_chat(world.channel.id, world.alice.id)
    assert [k for k, _ in await _kinds(api, token)] == []
    await api(token, "getUpdates", allowed_updates=ALL)
    await client.join_chat(world.channel.id, world.alice.id)
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["chat_member"]
    change = kinds[0][1]
    assert change["old_chat_member"]["status"] == "left"
    assert change["new_chat_member"]["status"] == "member"
    assert change["chat"]["id"] == world.channel.id
    # Not an administrator of the channel any more: no chat_member from it.
    await client.set_member(world.channel.id, world.bot.id, "member")
    await _kinds(api, token)
    await client.leave_chat(world.channel.id, world.alice.id)
    assert await _kinds(api, token) == []


async def test_my_chat_member_when_the_bot_changes(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await _kinds(api, token)
    await client.set_member(world.group.id, world.bot.id, "member")
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["my_chat_member"]
    update = kinds[0][1]
    assert update["old_chat_member"]["status"] == "administrator"
    assert update["new_chat_member"]["status"] == "member"
    await client.set_member(world.group.id, world.bot.id, "left")
    kinds = await _kinds(api, token)
    # Removal also shows a service message to the remaining bots, not to the removed one.
    assert [k for k, _ in kinds] == ["my_chat_member"]


async def test_join_and_leave_service_messages(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    newcomer = await client.create_user("Nick")
    await _kinds(api, token)
    await client.join_chat(world.group.id, newcomer.id)
    await client.leave_chat(world.group.id, newcomer.id)
    messages = [u for k, u in await _kinds(api, token) if k == "message"]
    assert messages[0]["new_chat_members"][0]["id"] == newcomer.id
    assert messages[1]["left_chat_member"]["id"] == newcomer.id


async def test_privacy_mode(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token = world.bot.token
    await client.set_member(world.group.id, world.bot.id, "member")
    await _kinds(api, token)
    plain = await client.send_message(world.group.id, world.alice.id, "just chatting")
    await client.send_message(world.group.id, world.alice.id, "/protect@gm_test_bot @news")
    await client.send_message(world.group.id, world.alice.id, "re", reply_to=plain["message_id"])
    texts = [u["text"] for k, u in await _kinds(api, token) if k == "message"]
    assert texts == ["/protect@gm_test_bot @news"]
    command = (await client.messages(world.group.id))[-2]
    assert command["entities"][0] == {"offset": 0, "length": 20, "type": "bot_command"}


async def test_channel_posts_and_automatic_forwards(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await client.update_chat(world.channel.id, linked_chat_id=world.group.id)
    await _kinds(api, token)
    chat = await client.chat(world.channel.id)
    await client.send_message(world.channel.id, chat["creator_id"], "news!")
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["channel_post", "message"]
    post = kinds[0][1]
    assert post["sender_chat"]["id"] == world.channel.id
    assert "from" not in post
    forward = kinds[1][1]
    assert forward["is_automatic_forward"] is True
    assert forward["sender_chat"]["id"] == world.channel.id
    assert forward["from"]["id"] == 777000
    assert forward["forward_origin"]["message_id"] == post["message_id"]


async def test_messages_as_channel_and_anonymous_admin(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await _kinds(api, token)
    await client.send_message(
        world.group.id, world.admin.id, "as channel", sender_chat_id=world.channel.id
    )
    await client.send_message(world.group.id, world.admin.id, "anon", sender_chat_id=world.group.id)
    first, second = [u for _, u in await _kinds(api, token)]
    assert first["from"]["id"] == 136817688
    assert first["sender_chat"]["id"] == world.channel.id
    assert second["from"]["id"] == 1087968824
    assert second["sender_chat"]["id"] == world.group.id


async def test_edited_message_and_media(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token = world.bot.token
    await _kinds(api, token)
    sent = await client.send_message(world.group.id, world.alice.id, "typo")
    await client.send_message(
        world.group.id, world.alice.id, edit_of=sent["message_id"], text="fixed"
    )
    await client.send_message(world.group.id, world.alice.id, media="photo", caption="pic")
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["message", "edited_message", "message"]
    assert kinds[1][1]["text"] == "fixed"
    assert "edit_date" in kinds[1][1]
    assert kinds[2][1]["caption"] == "pic"
    assert len(kinds[2][1]["photo"]) == 2


async def test_callback_query_and_answer(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    markup = {"inline_keyboard": [[{"text": "I've joined", "callback_data": "check:1"}]]}
    prompt = (
        await api(token, "sendMessage", chat_id=world.group.id, text="join", reply_markup=markup)
    ).result
    await _kinds(api, token)
    pending = await client.press_button(
        world.group.id, prompt["message_id"], world.bob.id, "check:1", wait=False
    )
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["callback_query"]
    query = kinds[0][1]
    assert query["id"] == pending.query_id
    assert query["data"] == "check:1"
    assert query["message"]["message_id"] == prompt["message_id"]
    answer = await api(
        token,
        "answerCallbackQuery",
        callback_query_id=query["id"],
        text="Join first",
        show_alert=True,
    )
    assert answer.result is True
    again = await api(token, "answerCallbackQuery", callback_query_id=query["id"])
    assert again.description == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )


async def test_callback_answer_reaches_the_user(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
    prompt = (
        await api(token, "sendMessage", chat_id=world.group.id, text="?", reply_markup=markup)
    ).result
    await _kinds(api, token)
    import asyncio

    press = asyncio.create_task(
        client.press_button(world.group.id, prompt["message_id"], world.bob.id, "ok", timeout=5)
    )
    query = None
    while query is None:
        found = [u for k, u in await _kinds(api, token) if k == "callback_query"]
        query = found[0] if found else None
    await api(
        token, "answerCallbackQuery", callback_query_id=query["id"], text="Thanks", show_alert=True
    )
    answer = await press
    assert answer.answered
    assert (answer.text, answer.show_alert) == ("Thanks", True)


async def test_join_request_update(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token = world.bot.token
    await _kinds(api, token)
    newcomer = await client.create_user("Rita")
    await client.request_join(world.channel.id, newcomer.id, bio="hi")
    kinds = await _kinds(api, token)
    assert [k for k, _ in kinds] == ["chat_join_request"]
    request = kinds[0][1]
    assert request["user_chat_id"] == newcomer.id
    assert request["bio"] == "hi"
    # The bot may now write to the requester.
    assert (await api(token, "sendMessage", chat_id=newcomer.id, text="Hi!")).status == 200
