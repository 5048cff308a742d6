"""classify: Telegram's refusal texts to the domain's error types."""

from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import UnbanChatMember

from gmbot.domain.telegram import (
    BadRequest,
    BotBlocked,
    ChatNotFound,
    MemberListInaccessible,
    NotEnoughRights,
    TelegramError,
)
from gmbot.telegram.errors import classify

METHOD = UnbanChatMember(chat_id=-1001, user_id=1)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # A basic group has no ban list: a refusal for good, as "only for supergroups".
        ("Bad Request: method is available for supergroup and channel chats only", NotEnoughRights),
        ("Bad Request: method is available only for supergroups", NotEnoughRights),
        ("Bad Request: not enough rights to restrict/unrestrict chat member", NotEnoughRights),
        ("Bad Request: CHAT_ADMIN_REQUIRED", NotEnoughRights),
        ("Bad Request: chat not found", ChatNotFound),
        ("Bad Request: member list is inaccessible", MemberListInaccessible),
        ("Bad Request: message text is empty", BadRequest),
    ],
)
def test_bad_requests(text: str, kind: type[TelegramError]) -> None:
    err = classify(TelegramBadRequest(METHOD, text), "unbanChatMember")
    assert type(err) is kind
    assert err.description == text


def test_forbidden_is_bot_blocked() -> None:
    err = classify(TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"), "m")
    assert isinstance(err, BotBlocked)
