"""Translate aiogram's Bot API exceptions into the domain's TelegramError family."""

from __future__ import annotations

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
)

from gmbot.domain.telegram import (
    BadRequest,
    BotBlocked,
    ChatNotFound,
    MemberListInaccessible,
    NotEnoughRights,
    TelegramError,
    TelegramUnavailable,
)

_NOT_FOUND = ("chat not found", "user not found", "participant_id_invalid", "peer_id_invalid")
_RIGHTS = (
    "not enough rights",
    "chat_admin_required",
    "have no rights",
    "can't be deleted",
    "user is an administrator",
    "can't remove chat owner",
    "only for supergroups",
    # unbanChatMember, banChatSenderChat... in a basic group (no ban list there).
    "supergroup and channel chats only",
    "can't restrict self",
    "need administrator rights",
    "not an administrator",
)


def classify(exc: TelegramAPIError, method: str) -> TelegramError:
    """The domain error for an API error that is not a retry signal."""
    text = exc.message
    low = text.lower()
    if isinstance(exc, TelegramBadRequest | TelegramMigrateToChat):
        if "member list is inaccessible" in low:
            return MemberListInaccessible(text, method)
        if any(s in low for s in _NOT_FOUND):
            return ChatNotFound(text, method)
        if any(s in low for s in _RIGHTS):
            return NotEnoughRights(text, method)
        return BadRequest(text, method)
    if isinstance(exc, TelegramForbiddenError):
        return BotBlocked(text, method)
    if isinstance(exc, TelegramNotFound):
        return TelegramUnavailable(text, method)
    return TelegramUnavailable(text, method)


def error_kind(err: TelegramError) -> str:
    """A short label for metrics."""
    return type(err).__name__
