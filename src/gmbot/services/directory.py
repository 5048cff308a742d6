"""Group configuration and admin lists, read through the shared cache.

Every change goes to the database first and then drops the cached copy, so the
next message on any instance reloads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog

from gmbot.domain.models import ProtectedGroup
from gmbot.domain.ports import GateCache, StoreUnavailable, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import TelegramError
from gmbot.metrics import Metrics

log = structlog.get_logger(__name__)


class GroupDirectory:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cache: GateCache,
        telegram: TelegramGateway,
        metrics: Metrics,
        *,
        group_ttl: int,
        admin_ttl: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._uow = uow
        self._cache = cache
        self._telegram = telegram
        self._metrics = metrics
        self._group_ttl = group_ttl
        self._admin_ttl = admin_ttl

    async def group(self, chat_id: int) -> ProtectedGroup | None:
        """The group's configuration (None when not protected), cached."""
        cached, group = await self._cache.get_group(chat_id)
        self._metrics.cache_looked_up("group", cached)
        if cached:
            return group
        return await self.reload(chat_id)

    async def reload(self, chat_id: int) -> ProtectedGroup | None:
        async with self._uow() as uow:
            group = await uow.groups.get(chat_id)
            exempt: Sequence[int] = await uow.exempt.list(chat_id) if group else ()
        await self._cache.put_group(chat_id, group, exempt, self._group_ttl)
        return group

    async def invalidate(self, chat_id: int) -> None:
        await self._cache.drop_group(chat_id)

    async def load_admins(self, chat_id: int) -> bool:
        """Cache the group's admin list; False when Telegram would not tell."""
        self._metrics.cache_looked_up("admins", False)
        try:
            admins = await self._telegram.get_admins(chat_id)
        except TelegramError as err:
            log.warning("admin_list_unavailable", chat_id=chat_id, error=err.description)
            return False
        user_ids = [a.user_id for a in admins]
        await self._cache.put_admins(chat_id, user_ids, self._admin_ttl)
        # Candidates for each admin's private group list (cold path: a reload only).
        # Only a hint: an unreachable database does not fail the admin list.
        try:
            async with self._uow() as uow:
                await uow.managers.saw(chat_id, user_ids, self._clock())
                await uow.commit()
        except StoreUnavailable as err:
            log.warning("managers_not_recorded", chat_id=chat_id, error=str(err))
        return True

    async def invalidate_admins(self, chat_id: int) -> None:
        await self._cache.drop_admins(chat_id)
