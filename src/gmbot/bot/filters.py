"""Router filters as coroutines: aiogram runs synchronous filters (magic F
expressions included) in a worker thread, which costs more than the check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

_GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


async def in_group(message: Message) -> bool:
    return message.chat.type in _GROUPS


async def in_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


async def migrates(message: Message) -> bool:
    return message.migrate_to_chat_id is not None


def data_prefix(prefix: str) -> Callable[[CallbackQuery], Awaitable[bool]]:
    async def matches(query: CallbackQuery) -> bool:
        return (query.data or "").startswith(prefix)

    return matches
