"""What the bot does in private chats: /start, /help, and /stats for operators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gmbot.domain.models import Stats
from gmbot.domain.ports import UnitOfWorkFactory

# The rights GMBot asks for when added to a group through the deep link.
REQUESTED_RIGHTS = "delete_messages+restrict_members+invite_users"


def add_to_group_url(bot_username: str) -> str:
    return f"https://t.me/{bot_username}?startgroup=protect&admin={REQUESTED_RIGHTS}"


class PrivateService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime]) -> None:
        self._uow = uow
        self._clock = clock

    async def started(self, user_id: int) -> None:
        """The user may now be written to (owners' notices)."""
        async with self._uow() as uow:
            await uow.users.mark_started(user_id, self._clock())
            await uow.commit()

    async def stats(self) -> Stats:
        async with self._uow() as uow:
            enabled, total, links = await uow.groups.counts()
            mutes = await uow.restrictions.count_active(self._clock())
            by_kind = await uow.audit.counts()
        return Stats(enabled, total, links, mutes, by_kind)
