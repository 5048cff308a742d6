"""Every Bot API call the bot makes, with every parameter it sends, exists in the
official Bot API 10.1 list. The end-to-end suite checks each request it makes the
same way (tests/e2e/conftest.py); this test covers each gateway method directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram import Bot

from gmbot.domain.telegram import MUTED, Button
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import AiogramGateway
from tests.fakes.api_spec import require_spec, violations
from tests.fakes.telegram import DEFAULT_PERMISSIONS, FakeSession

GROUP, CHANNEL, USER = -1001, -1002, 5


async def test_every_gateway_call_conforms() -> None:
    spec = require_spec()
    session = FakeSession()
    w = session.world
    w.user(USER)
    w.chat(GROUP, "supergroup", "G")
    w.chat(CHANNEL, "channel", "C")
    w.set_status(GROUP, w.bot_id, "administrator")
    w.set_status(CHANNEL, w.bot_id, "administrator")
    w.set_status(GROUP, USER, "member")
    gw = AiogramGateway(Bot(f"{w.bot_id}:T", session=session), Metrics("t"))
    await gw.get_me()
    await gw.get_chat(GROUP)
    await gw.get_member(CHANNEL, USER)
    await gw.get_admins(GROUP)
    kb = [[Button("Join", url="https://t.me/x")], [Button("ok", callback_data="gmv:5")]]
    mid = await gw.send_message(GROUP, "<b>hi</b>", keyboard=kb, thread_id=3)
    await gw.delete_message(GROUP, mid)
    await gw.restrict(GROUP, USER, MUTED, datetime.now(UTC) + timedelta(hours=1))
    await gw.restrict(GROUP, USER, DEFAULT_PERMISSIONS)
    await gw.answer_callback("cb1", "text", alert=True)
    await gw.create_invite_link(CHANNEL)
    sent = {c.method for c in session.calls}
    assert sent == {
        "getMe",
        "getChat",
        "getChatMember",
        "getChatAdministrators",
        "sendMessage",
        "deleteMessage",
        "restrictChatMember",
        "answerCallbackQuery",
        "createChatInviteLink",
    }
    for call in session.calls:
        assert call.method.lower() in spec
        assert violations(call.method, call.params) == []
    # The check itself catches a wrong name.
    assert violations("sendMessage", {"chat_id": "1", "text": "x", "colour": "red"}) != []
    assert violations("sendMesage", {}) != []


async def test_webhook_and_polling_calls_conform() -> None:
    require_spec()
    session = FakeSession()
    bot = Bot(f"{session.world.bot_id}:T", session=session)
    from gmbot.bot.dispatcher import ALLOWED_UPDATES

    await bot.set_webhook(
        "https://example.org/webhook",
        secret_token="s",
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=False,
    )
    await bot.delete_webhook(drop_pending_updates=False)
    await bot.get_webhook_info()
    assert session.conformance_errors == []
    assert set(ALLOWED_UPDATES) >= {"chat_member", "my_chat_member", "callback_query"}
