"""A real aiogram Bot against the emulator: aiogram's own encoding (multipart, JSON strings)
for every method GMBot uses, its parsing of every answer, and its error classes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot_api_emulator import EmulatorClient, EmulatorServer
from tests.emulator.helpers import World

MUTED = ChatPermissions(**dict.fromkeys(ChatPermissions.model_fields, False))


@pytest.fixture
async def bot(emu: EmulatorServer, world: World) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    instance = Bot(world.bot.token, session=session)
    yield instance
    await instance.session.close()


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Join", url="https://t.me/news_channel"),
                InlineKeyboardButton(text="I've joined", callback_data="joined:1"),
            ]
        ]
    )


async def test_every_method_gmbot_uses(bot: Bot, client: EmulatorClient, world: World) -> None:
    group, channel = world.group.id, world.channel.id
    me = await bot.get_me()
    assert me.id == world.bot.id
    assert me.is_bot
    resolved = await bot.get_chat("@news_channel")
    assert resolved.id == channel
    assert resolved.invite_link
    full = await bot.get_chat(group)
    assert full.permissions is not None
    assert full.permissions.can_send_messages
    own = await bot.get_chat_member(channel, world.bot.id)
    assert isinstance(own, ChatMemberAdministrator)
    admins = await bot.get_chat_administrators(group)
    assert isinstance(admins[0], ChatMemberOwner)
    assert (await bot.get_chat_member(channel, world.bob.id)).status == "left"

    forum = await client.create_chat("supergroup", "Forum", is_forum=True)
    await client.set_member(forum.id, world.bot.id, "administrator")
    await client.set_member(forum.id, world.alice.id, "member")
    topic = await client.create_topic(forum.id, "General chat")
    user_message = await client.send_message(forum.id, world.alice.id, "hi", thread_id=topic)
    prompt = await bot.send_message(
        forum.id,
        f'<a href="tg://user?id={world.alice.id}">Alice</a>, join <b>News</b> first',
        parse_mode="HTML",
        reply_markup=keyboard(),
        message_thread_id=topic,
        reply_parameters=ReplyParameters(message_id=user_message["message_id"]),
    )
    assert prompt.message_thread_id == topic
    assert prompt.reply_to_message is not None
    assert prompt.text == "Alice, join News first"
    edited = await bot.edit_message_text(
        "Still waiting", chat_id=forum.id, message_id=prompt.message_id, reply_markup=keyboard()
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Still waiting"
    await bot.edit_message_reply_markup(chat_id=forum.id, message_id=prompt.message_id)
    assert await bot.delete_message(forum.id, user_message["message_id"])
    assert await bot.delete_messages(forum.id, [prompt.message_id])

    assert await bot.restrict_chat_member(
        group,
        world.bob.id,
        MUTED,
        until_date=timedelta(hours=1),
        use_independent_chat_permissions=True,
    )
    restricted = await bot.get_chat_member(group, world.bob.id)
    assert isinstance(restricted, ChatMemberRestricted)
    assert not restricted.can_send_messages
    assert full.permissions is not None
    assert await bot.restrict_chat_member(group, world.bob.id, full.permissions)
    assert (await bot.get_chat_member(group, world.bob.id)).status == "member"
    assert await bot.ban_chat_member(group, world.bob.id, revoke_messages=True)
    assert await bot.unban_chat_member(group, world.bob.id, only_if_banned=True)
    assert await bot.ban_chat_sender_chat(group, channel)

    link = await bot.create_chat_invite_link(channel, name="gate", creates_join_request=True)
    assert link.creates_join_request
    for user in (world.bob, world.admin):
        await client.request_join(channel, user.id, invite_link=link.invite_link)
    assert await bot.approve_chat_join_request(channel, world.bob.id)
    assert await bot.decline_chat_join_request(channel, world.admin.id)

    await client.user_starts_bot(world.admin.id)
    assert (await bot.send_message(world.admin.id, "Report")).chat.type == "private"
    assert await bot.leave_chat(forum.id)
    assert await client.conformance_errors() == []


async def test_errors_become_aiogram_exceptions(
    bot: Bot, client: EmulatorClient, world: World
) -> None:
    await client.set_member(world.channel.id, world.bot.id, "member")
    with pytest.raises(TelegramBadRequest, match="member list is inaccessible"):
        await bot.get_chat_member(world.channel.id, world.alice.id)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(world.bob.id, "hi")
    await client.add_fault("sendMessage", retry_after=3, times=1)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(world.group.id, "hi")
    assert retry.value.retry_after == 3
    basic = await client.create_chat("group", "Basic")
    await client.set_member(basic.id, world.bot.id, "member")
    upgraded = await client.migrate_chat(basic.id)
    with pytest.raises(TelegramMigrateToChat) as migrate:
        await bot.send_message(basic.id, "hi")
    assert migrate.value.migrate_to_chat_id == upgraded.id
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()


async def test_polling_dispatcher_answers_callbacks(
    bot: Bot, client: EmulatorClient, world: World
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.callback_query(F.data == "joined:1")
    async def on_joined(query: CallbackQuery) -> None:
        await query.answer("Welcome!", show_alert=True)

    prompt = await bot.send_message(world.group.id, "Join first", reply_markup=keyboard())
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=1, handle_signals=False, close_bot_session=False
        )
    )
    try:
        answer = await client.press_button(
            world.group.id, prompt.message_id, world.bob.id, "joined:1", timeout=5
        )
    finally:
        await dispatcher.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    assert answer.answered
    assert (answer.text, answer.show_alert) == ("Welcome!", True)


async def test_webhook_to_an_aiogram_app(bot: Bot, client: EmulatorClient, world: World) -> None:
    dispatcher = Dispatcher()
    seen: list[str] = []

    @dispatcher.message()
    async def on_message(message: Message) -> None:
        seen.append(message.text or "")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="tok-en").register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        await bot.set_webhook(
            url,
            secret_token="tok-en",
            drop_pending_updates=True,
            allowed_updates=["message", "callback_query", "chat_member"],
        )
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.allowed_updates == ["message", "callback_query", "chat_member"]
        await client.send_message(world.group.id, world.alice.id, "through the webhook")
        await client.wait_until_delivered()
        await client.wait(lambda: _true(seen), message="the handler never ran")
        assert seen == ["through the webhook"]
        assert await bot.delete_webhook()
    finally:
        await runner.cleanup()


async def _true(items: list[str]) -> bool:
    return bool(items)


async def test_aiogram_reply_in_webhook_answer(
    bot: Bot, client: EmulatorClient, world: World
) -> None:
    """aiogram can answer a webhook with a method (multipart body); Telegram runs it."""
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def on_message(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False).register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        await client.send_message(world.group.id, world.alice.id, "ping")
        reply = await client.wait_for_message(
            world.group.id, lambda m: m.get("text") == "echo: ping"
        )
        assert reply["from"]["id"] == world.bot.id
        record = await client.wait_for_request("sendMessage")
        assert record.via == "webhook_response"
        assert await client.conformance_errors() == []
    finally:
        await runner.cleanup()
