"""Bot API failures as the services meet them: what AiogramGateway makes of each answer,
over FakeSession and over the emulator (FakeTelegramGateway tests inject these results)."""

from __future__ import annotations

import pytest

from gmbot.domain.telegram import (
    BadRequest,
    BotBlocked,
    ChatNotFound,
    MemberListInaccessible,
    NotEnoughRights,
    RetryLater,
    TelegramError,
    TelegramUnavailable,
)
from gmbot.telegram.budget import budget
from tests.contract.models import ApiFault, TransportModel
from tests.contract.transport import MAX_RETRY_AFTER


def _flood(seconds: int) -> ApiFault:
    return ApiFault(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)


async def test_a_short_retry_after_is_waited_out(wire: TransportModel) -> None:
    group = await wire.supergroup("Group")
    await wire.fail("getChat", _flood(1))
    assert (await wire.gateway.get_chat(group)).title == "Group"


async def test_a_long_retry_after_is_reported(wire: TransportModel) -> None:
    group = await wire.supergroup()
    seconds = int(MAX_RETRY_AFTER) + 5
    await wire.fail("restrictChatMember", _flood(seconds))
    with pytest.raises(TelegramUnavailable) as caught:
        await wire.gateway.restrict(group, await wire.user(), {})
    assert caught.value.retry_after == seconds


async def test_a_retry_after_beyond_the_update_budget(wire: TransportModel) -> None:
    group = await wire.supergroup()
    await wire.fail("sendMessage", _flood(1))
    # Not a TelegramError: it must reach the webhook, which answers 503 and is redelivered.
    with budget(0.5), pytest.raises(RetryLater) as caught:
        await wire.gateway.send_message(group, "hi")
    assert caught.value.retry_after == 1
    assert not isinstance(caught.value, TelegramError)


async def test_server_errors_are_retried_then_reported(wire: TransportModel) -> None:
    group = await wire.supergroup("Group")
    await wire.fail("getChat", ApiFault(502, "Bad Gateway"))
    assert (await wire.gateway.get_chat(group)).title == "Group"
    # One retry is configured: two failures in a row are reported.
    await wire.fail("getChat", ApiFault(500, "Internal Server Error"), times=2)
    with pytest.raises(TelegramUnavailable):
        await wire.gateway.get_chat(group)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (ApiFault(400, "Bad Request: chat not found"), ChatNotFound),
        (ApiFault(400, "Bad Request: PARTICIPANT_ID_INVALID"), ChatNotFound),
        (ApiFault(400, "Bad Request: member list is inaccessible"), MemberListInaccessible),
        (ApiFault(400, "Bad Request: CHAT_ADMIN_REQUIRED"), NotEnoughRights),
        (ApiFault(400, "Bad Request: user is an administrator of the chat"), NotEnoughRights),
        (ApiFault(403, "Forbidden: bot was blocked by the user"), BotBlocked),
        (ApiFault(403, "Forbidden: bot was kicked from the supergroup chat"), BotBlocked),
        (ApiFault(400, "Bad Request: message text is empty"), BadRequest),
    ],
)
async def test_error_answers_become_domain_errors(
    wire: TransportModel, fault: ApiFault, kind: type[TelegramError]
) -> None:
    group = await wire.supergroup()
    await wire.fail("getChatMember", fault)
    with pytest.raises(kind) as caught:
        await wire.gateway.get_member(group, wire.bot.id)
    assert caught.value.description == fault.description
    assert caught.value.method == "getChatMember"


async def test_an_expired_callback_is_not_an_error(wire: TransportModel) -> None:
    await wire.fail(
        "answerCallbackQuery",
        ApiFault(400, "Bad Request: query is too old and response timeout expired"),
    )
    await wire.gateway.answer_callback("gone", "late")
