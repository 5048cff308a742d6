"""A write Telegram never answered may still be carried out: the gateway does not send
it again by itself (the outbox retries, after looking); a read is retried in place."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import TelegramMethod, TelegramType

from gmbot.domain.telegram import MUTED, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import AiogramGateway
from tests.fakes.telegram import FakeSession, TelegramWorld

CHAT, USER = -1001, 5


class FailingSession(FakeSession):
    """Raises aiogram's network error, with `message`, for the first `times` calls."""

    def __init__(self, world: TelegramWorld, message: str, times: int) -> None:
        super().__init__(world)
        self.message = message
        self.left = times
        self.sent: list[str] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        self.sent.append(method.__api_method__)
        if self.left > 0:
            self.left -= 1
            raise TelegramNetworkError(method=method, message=self.message)
        return await super().make_request(bot, method, timeout)


def world() -> TelegramWorld:
    w = TelegramWorld()
    w.user(USER, "Member")
    w.chat(CHAT, "supergroup", "Group")
    w.set_status(CHAT, w.bot_id, "administrator", can_restrict_members=True)
    w.set_status(CHAT, USER, "member")
    return w


def gateway(session: FakeSession, **kwargs: Any) -> AiogramGateway:
    bot = Bot(f"{session.world.bot_id}:T", session=session)
    return AiogramGateway(bot, Metrics("t"), None, retry_base=0.001, **kwargs)


async def test_a_write_that_timed_out_is_not_sent_again_in_place() -> None:
    session = FailingSession(world(), "Request timeout error", times=1)
    with pytest.raises(TelegramUnavailable) as caught:
        await gateway(session).restrict(CHAT, USER, MUTED, None)
    assert caught.value.outcome_unknown
    assert session.sent == ["restrictChatMember"]


async def test_a_write_that_could_not_connect_is_retried_in_place() -> None:
    session = FailingSession(world(), "ClientConnectorError: Cannot connect to host", times=1)
    await gateway(session).restrict(CHAT, USER, MUTED, None)
    assert session.sent == ["restrictChatMember", "restrictChatMember"]


async def test_a_read_that_timed_out_is_retried_in_place() -> None:
    session = FailingSession(world(), "Request timeout error", times=1)
    member = await gateway(session).get_member(CHAT, USER)
    assert member.status == "member"
    assert session.sent == ["getChatMember", "getChatMember"]
