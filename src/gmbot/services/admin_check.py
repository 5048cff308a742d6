"""May this actor run an admin command in this group?"""

from __future__ import annotations

from collections.abc import Set

from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import TelegramError
from gmbot.services.events import Actor


class AdminCheck:
    def __init__(self, telegram: TelegramGateway, operators: Set[int]) -> None:
        self._telegram = telegram
        self._operators = operators

    def is_operator(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._operators

    async def allowed(self, chat_id: int, actor: Actor) -> bool:
        # Only the group's admins can post on behalf of the group.
        if actor.as_group or self.is_operator(actor.user_id):
            return True
        if actor.user_id is None:
            return False
        try:
            member = await self._telegram.get_member(chat_id, actor.user_id)
        except TelegramError:
            return False
        return member.is_admin
