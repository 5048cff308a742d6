"""Tell a group's owners (in private) about problems, at most once per period."""

from __future__ import annotations

import structlog

from gmbot.domain.ports import TelegramGateway, Throttle, UnitOfWorkFactory
from gmbot.domain.telegram import BotBlocked, TelegramError

log = structlog.get_logger(__name__)


class AdminNotifier:
    def __init__(self, uow: UnitOfWorkFactory, telegram: TelegramGateway, throttle: Throttle):
        self._uow = uow
        self._telegram = telegram
        self._throttle = throttle

    async def notify(
        self, chat_id: int, topic: str, text: str, *, period: float, fallback_to_group: bool
    ) -> int:
        """Send `text` to the group's owners who started the bot; returns how many got it.

        `topic` names the problem, so each kind is sent at most once per `period`.
        With nobody reachable in private, `fallback_to_group` posts it in the group.
        """
        if not await self._throttle.acquire(f"notify:{chat_id}:{topic}", period):
            return 0
        async with self._uow() as uow:
            owners = await uow.owners.list(chat_id)
            reachable = await uow.users.reachable(owners)
        sent = 0
        for user_id in reachable:
            try:
                await self._telegram.send_message(user_id, text)
                sent += 1
            except BotBlocked:
                async with self._uow() as uow:
                    await uow.users.mark_blocked(user_id)
                    await uow.commit()
            except TelegramError as err:
                log.warning("owner_notify_failed", owner_id=user_id, error=err.description)
        if not sent and fallback_to_group:
            try:
                await self._telegram.send_message(chat_id, text)
            except TelegramError as err:
                log.warning("group_notify_failed", chat_id=chat_id, error=err.description)
        log.info("admins_notified", chat_id=chat_id, topic=topic, owners=sent)
        return sent
