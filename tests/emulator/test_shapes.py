"""Every kind of object the emulator returns is one aiogram accepts and the spec (with its
overlay, data/overlay.json) describes: no field that neither has, none required missing."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot_api_emulator import EmulatorClient
from bot_api_emulator.spec import BUNDLED_SPEC, Spec
from tests.emulator.helpers import ApiCall, Receiver, World
from tests.emulator.shapes import problems

ALL_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
]

Collect = Callable[[str, str, dict[str, Any]], Coroutine[Any, Any, Any]]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec.load(BUNDLED_SPEC)


async def _objects(api: ApiCall, client: EmulatorClient, world: World) -> list[tuple[str, Any]]:
    """(type, JSON) of what the Bot API methods answer in a world with every member status."""
    token = world.bot.token
    seen: list[tuple[str, Any]] = []

    async def call(type_name: str, method: str, **params: Any) -> Any:
        result = (await api(token, method, **params)).result
        seen.append((type_name, result))
        return result

    forum = await client.create_chat("supergroup", "Forum", is_forum=True)
    await client.set_member(forum.id, world.bot.id, "administrator")
    carol = await client.create_user("Carol")
    await client.set_member(world.group.id, carol.id, "kicked")
    await api(
        token,
        "restrictChatMember",
        chat_id=world.group.id,
        user_id=world.bob.id,
        permissions={"can_send_messages": False},
    )
    await client.user_starts_bot(world.alice.id, bot_id=world.bot.id)

    await call("User", "getMe")
    for chat_id in (world.group.id, world.channel.id, forum.id, world.alice.id):
        await call("ChatFullInfo", "getChat", chat_id=chat_id)
    basic = await client.create_chat("group", "Basic")
    await client.set_member(basic.id, world.bot.id, "administrator")
    await call("ChatFullInfo", "getChat", chat_id=basic.id)
    owner = (await client.chat(world.group.id))["creator_id"]
    for user_id in (owner, world.admin.id, world.alice.id, world.bob.id, carol.id, world.bot.id):
        await call("ChatMember", "getChatMember", chat_id=world.group.id, user_id=user_id)
    await call("ChatMember", "getChatMember", chat_id=world.channel.id, user_id=world.bot.id)
    await call("ChatMember", "getChatMember", chat_id=forum.id, user_id=world.bot.id)
    left = await client.create_user("Dan")
    await call("ChatMember", "getChatMember", chat_id=world.group.id, user_id=left.id)
    await call("Array of ChatMember", "getChatAdministrators", chat_id=world.group.id)
    keyboard = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
    sent = await call(
        "Message", "sendMessage", chat_id=world.group.id, text="<b>hi</b>", parse_mode="HTML",
        reply_markup=keyboard,
    )  # fmt: skip
    await call(
        "Message", "editMessageText", chat_id=world.group.id, message_id=sent["message_id"],
        text="edited", reply_markup=keyboard,
    )  # fmt: skip
    await call("Message", "sendMessage", chat_id=world.channel.id, text="post")
    await call("Message", "sendMessage", chat_id=world.alice.id, text="private")
    await call("ChatInviteLink", "createChatInviteLink", chat_id=world.channel.id, name="GMBot")
    await api(token, "setMyCommands", commands=[{"command": "status", "description": "Status"}])
    await call("Array of BotCommand", "getMyCommands")
    await call("WebhookInfo", "getWebhookInfo")
    return seen


async def _updates(api: ApiCall, client: EmulatorClient, world: World) -> list[dict[str, Any]]:
    """One update of each kind the emulator emits."""
    token = world.bot.token
    await api(token, "getUpdates", allowed_updates=ALL_UPDATES)
    await client.update_chat(world.channel.id, linked_chat_id=world.group.id)
    await client.user_starts_bot(world.bob.id, bot_id=world.bot.id)  # message
    prompt = (await api(token, "sendMessage", chat_id=world.group.id, text="press", reply_markup={
        "inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]})).result  # fmt: skip
    await client.press_button(world.group.id, prompt["message_id"], world.bob.id, "ok", wait=False)
    sent = await client.send_message(world.group.id, world.alice.id, "/start@gm_test_bot")
    await client.send_message(
        world.group.id, world.alice.id, edit_of=sent["message_id"], text="/status@gm_test_bot"
    )
    creator = (await client.chat(world.channel.id))["creator_id"]
    await client.send_message(world.channel.id, creator, "news")  # channel_post + forward
    newcomer = await client.create_user("Nick")
    await client.join_chat(world.channel.id, newcomer.id)  # chat_member
    await client.request_join(world.channel.id, (await client.create_user("Rita")).id)
    await client.set_member(world.group.id, world.bot.id, "member")  # my_chat_member
    updates: list[dict[str, Any]] = (await api(token, "getUpdates")).result
    return updates


async def test_method_answers_fit_the_spec_and_aiogram(
    api: ApiCall, client: EmulatorClient, world: World, spec: Spec
) -> None:
    objects = await _objects(api, client, world)
    statuses = {m["status"] for t, m in objects if t == "ChatMember"}
    assert statuses == {"creator", "administrator", "member", "restricted", "left", "kicked"}
    found = [p for type_name, value in objects for p in problems(spec, type_name, value)]
    assert found == []


async def test_updates_fit_the_spec_and_aiogram(
    api: ApiCall, client: EmulatorClient, world: World, spec: Spec
) -> None:
    updates = await _updates(api, client, world)
    kinds = {k for u in updates for k in u if k != "update_id"}
    assert kinds == set(ALL_UPDATES)
    assert [p for u in updates for p in problems(spec, "Update", u)] == []


async def test_webhook_info_with_a_webhook(
    api: ApiCall, world: World, receiver: Receiver, spec: Spec
) -> None:
    await api(world.bot.token, "setWebhook", url=receiver.url, secret_token="s")
    info = (await api(world.bot.token, "getWebhookInfo")).result
    assert info["url"] == receiver.url
    assert problems(spec, "WebhookInfo", info) == []


def test_the_checker_catches_an_unknown_and_a_missing_field(spec: Spec) -> None:
    user = {"id": 1, "is_bot": False, "first_name": "A"}
    assert problems(spec, "User", user) == []
    unknown = problems(spec, "User", {**user, "nickname": "x"})
    assert unknown == ["User.nickname: not a field of User"]
    member = {"status": "administrator", "user": user, "can_be_edited": False}
    found = problems(spec, "ChatMember", member)
    assert "ChatMember.can_send_welcome_messages: required by ChatMemberAdministrator" in found
    assert any("aiogram refuses it" in p for p in found)
