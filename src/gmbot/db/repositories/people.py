"""Owners of a group, users who started the bot, and exempt users."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.repositories._upsert import insert_for
from gmbot.db.tables import BotUserRow, ExemptRow, OwnerRow
from gmbot.domain.ports import BotUserRepository, ExemptRepository, OwnerRepository


class SqlOwnerRepository(OwnerRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, chat_id: int, user_id: int, now: datetime) -> None:
        stmt = insert_for(self._session, OwnerRow).values(
            chat_id=chat_id, user_id=user_id, added_at=now
        )
        # An owner keeps the date they first protected the group.
        await self._session.exec(stmt.on_conflict_do_nothing())

    async def list(self, chat_id: int) -> builtins.list[int]:
        result = await self._session.exec(
            select(OwnerRow.user_id)
            .where(col(OwnerRow.chat_id) == chat_id)
            .order_by(col(OwnerRow.added_at), col(OwnerRow.user_id))
        )
        return list(result.all())


class SqlBotUserRepository(BotUserRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def mark_started(self, user_id: int, now: datetime) -> None:
        stmt = insert_for(self._session, BotUserRow).values(
            user_id=user_id, started_at=now, blocked=False
        )
        # /start again after blocking the bot makes the user reachable again.
        await self._session.exec(
            stmt.on_conflict_do_update(
                index_elements=[col(BotUserRow.user_id)],
                set_={"started_at": stmt.excluded.started_at, "blocked": False},
            )
        )

    async def mark_blocked(self, user_id: int) -> None:
        await self._session.exec(
            update(BotUserRow)
            .where(col(BotUserRow.user_id) == user_id)
            .values(blocked=True)
            .execution_options(synchronize_session=False)
        )

    async def reachable(self, user_ids: Sequence[int]) -> list[int]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return []
        result = await self._session.exec(
            select(BotUserRow.user_id).where(
                col(BotUserRow.user_id).in_(wanted), col(BotUserRow.blocked).is_(False)
            )
        )
        found = set(result.all())
        return [user_id for user_id in wanted if user_id in found]


class SqlExemptRepository(ExemptRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, chat_id: int, user_id: int, added_by: int | None, now: datetime) -> bool:
        stmt = insert_for(self._session, ExemptRow).values(
            chat_id=chat_id, user_id=user_id, added_by=added_by, added_at=now
        )
        # RETURNING yields a row only when the insert happened.
        result = await self._session.exec(
            stmt.on_conflict_do_nothing().returning(col(ExemptRow.user_id))
        )
        return result.first() is not None

    async def remove(self, chat_id: int, user_id: int) -> bool:
        result = await self._session.exec(
            delete(ExemptRow)
            .where(col(ExemptRow.chat_id) == chat_id, col(ExemptRow.user_id) == user_id)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount > 0

    async def list(self, chat_id: int) -> builtins.list[int]:
        result = await self._session.exec(
            select(ExemptRow.user_id)
            .where(col(ExemptRow.chat_id) == chat_id)
            .order_by(col(ExemptRow.added_at), col(ExemptRow.user_id))
        )
        return list(result.all())
