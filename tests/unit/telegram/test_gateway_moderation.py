"""AiogramGateway's ban, unban, kick, edit_keyboard and command calls: what goes on the
wire, and how Telegram's refusals map to the domain's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot

from gmbot.domain.telegram import (
    Button,
    ChatNotFound,
    CommandScope,
    NotEnoughRights,
    ScopeType,
    TelegramUnavailable,
    refusal_reason,
)
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import MAX_COMMANDS, AiogramGateway
from tests.fakes.telegram import FakeSession, TelegramWorld
from tests.unit.telegram.test_gateway_unknown_outcome import FailingSession

CHAT, BASIC, USER = -1001, -5001, 5


def world() -> TelegramWorld:
    w = TelegramWorld()
    w.user(USER, "Member")
    w.chat(CHAT, "supergroup", "Group")
    w.chat(BASIC, "group", "Basic")
    for chat in (CHAT, BASIC):
        w.set_status(chat, w.bot_id, "administrator", can_restrict_members=True)
        w.set_status(chat, USER, "member")
    return w


def gateway(session: FakeSession) -> AiogramGateway:
    bot = Bot(f"{session.world.bot_id}:T", session=session)
    return AiogramGateway(bot, Metrics("t"), None, retry_base=0.001)


async def test_ban_sends_until_and_revoke() -> None:
    session = FakeSession(world())
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    await gateway(session).ban(CHAT, USER, until=until, revoke_messages=True)
    (call,) = session.called("banChatMember")
    assert call.params["until_date"] == str(int(until.timestamp()))
    assert call.params["revoke_messages"] == "true"
    assert session.world.status(CHAT, USER) == "kicked"


async def test_kick_is_ban_then_unban_only_if_banned() -> None:
    session = FakeSession(world())
    await gateway(session).kick(CHAT, USER)
    assert [c.method for c in session.calls] == ["banChatMember", "unbanChatMember"]
    assert session.calls[1].params["only_if_banned"] == "true"
    assert session.world.status(CHAT, USER) == "left"


async def test_kick_in_a_basic_group_is_the_ban_alone() -> None:
    session = FakeSession(world())
    await gateway(session).kick(BASIC, USER)
    assert session.world.status(BASIC, USER) == "left"
    # The unban was tried and refused; that refusal is no failure of the kick.
    assert [c.method for c in session.calls] == ["banChatMember", "unbanChatMember"]


async def test_unban_in_a_basic_group_is_not_enough_rights() -> None:
    with pytest.raises(NotEnoughRights) as refused:
        await gateway(FakeSession(world())).unban(BASIC, USER)
    assert refusal_reason(refused.value) == "basic_group"
    assert refused.value.method == "unbanChatMember"


async def test_ban_of_an_unknown_user() -> None:
    with pytest.raises(ChatNotFound) as refused:
        await gateway(FakeSession(world())).ban(CHAT, 424242)
    assert refusal_reason(refused.value) == "user_gone"


async def test_a_ban_that_timed_out_is_not_sent_again_in_place() -> None:
    session = FailingSession(world(), "Request timeout error", times=1)
    with pytest.raises(TelegramUnavailable) as caught:
        await gateway(session).ban(CHAT, USER)
    assert caught.value.outcome_unknown
    assert session.sent == ["banChatMember"]


async def test_kick_stops_when_the_ban_outcome_is_unknown() -> None:
    # Lifting a ban that may not exist yet could race with it: the kick stops there.
    session = FailingSession(world(), "Request timeout error", times=1)
    with pytest.raises(TelegramUnavailable):
        await gateway(session).kick(CHAT, USER)
    assert session.sent == ["banChatMember"]


async def test_edit_keyboard_on_the_wire() -> None:
    session = FakeSession(world())
    gw = gateway(session)
    message = await gw.send_message(CHAT, "prompt")
    assert await gw.edit_keyboard(CHAT, message, [[Button("ok", callback_data="v:1")]])
    (call,) = session.called("editMessageReplyMarkup")
    markup = json.loads(call.params["reply_markup"])
    assert markup == {"inline_keyboard": [[{"text": "ok", "callback_data": "v:1"}]]}
    assert await gw.edit_keyboard(CHAT, message, None)
    assert "reply_markup" not in session.called("editMessageReplyMarkup")[1].params
    assert session.conformance_errors == []


async def test_commands_on_the_wire() -> None:
    session = FakeSession(world())
    scope = CommandScope.chat_administrators(CHAT)
    await gateway(session).set_commands([("settings", "Group settings")], scope, "en")
    (call,) = session.called("setMyCommands")
    assert json.loads(call.params["scope"]) == {"type": "chat_administrators", "chat_id": CHAT}
    assert call.params["language_code"] == "en"
    assert json.loads(call.params["commands"]) == [
        {"command": "settings", "description": "Group settings"}
    ]
    assert session.conformance_errors == []


@pytest.mark.parametrize("kind", list(ScopeType))
async def test_every_scope_reaches_telegram(kind: ScopeType) -> None:
    session = FakeSession(world())
    scope = CommandScope(kind, CHAT if kind in ("chat", "chat_administrators") else None)
    gw = gateway(session)
    await gw.set_commands([("help", "Help")], scope)
    assert await gw.get_commands(scope) == [("help", "Help")]
    assert json.loads(session.called("getMyCommands")[0].params["scope"])["type"] == kind


async def test_too_many_commands_are_refused_before_sending() -> None:
    session = FakeSession(world())
    commands = [(f"c{i}", "x") for i in range(MAX_COMMANDS + 1)]
    with pytest.raises(ValueError, match="at most 100"):
        await gateway(session).set_commands(commands, CommandScope())
    assert session.calls == []
