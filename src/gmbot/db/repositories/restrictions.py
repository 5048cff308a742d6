"""Mutes GMBot applied itself: the only ones it ever lifts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from gmbot.db.repositories._upsert import insert_for
from gmbot.db.tables import RestrictionRow, as_utc
from gmbot.domain.models import Restriction
from gmbot.domain.ports import RestrictionRepository


class SqlRestrictionRepository(RestrictionRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, restriction: Restriction) -> None:
        stmt = insert_for(self._session, RestrictionRow).values(
            chat_id=restriction.chat_id,
            user_id=restriction.user_id,
            created_at=restriction.created_at,
            until=restriction.until,
        )
        await self._session.exec(
            stmt.on_conflict_do_update(
                index_elements=[col(RestrictionRow.chat_id), col(RestrictionRow.user_id)],
                set_={"created_at": stmt.excluded.created_at, "until": stmt.excluded.until},
            )
        )

    async def get(self, chat_id: int, user_id: int) -> Restriction | None:
        result = await self._session.exec(
            self._select().where(
                col(RestrictionRow.chat_id) == chat_id, col(RestrictionRow.user_id) == user_id
            )
        )
        row = result.first()
        return None if row is None else _to_restriction(row)

    async def remove(self, chat_id: int, user_id: int) -> bool:
        result = await self._session.exec(
            delete(RestrictionRow)
            .where(col(RestrictionRow.chat_id) == chat_id, col(RestrictionRow.user_id) == user_id)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount > 0

    async def for_user(self, user_id: int) -> list[Restriction]:
        result = await self._session.exec(
            self._select()
            .where(col(RestrictionRow.user_id) == user_id)
            .order_by(col(RestrictionRow.created_at), col(RestrictionRow.chat_id))
        )
        return [_to_restriction(row) for row in result.all()]

    async def for_chat(self, chat_id: int, limit: int = 1000) -> list[Restriction]:
        result = await self._session.exec(
            self._select()
            .where(col(RestrictionRow.chat_id) == chat_id)
            .order_by(col(RestrictionRow.created_at), col(RestrictionRow.user_id))
            .limit(limit)
        )
        return [_to_restriction(row) for row in result.all()]

    async def count_active(self, now: datetime) -> int:
        result = await self._session.exec(
            select(func.count())
            .select_from(RestrictionRow)
            .where(or_(col(RestrictionRow.until).is_(None), col(RestrictionRow.until) > now))
        )
        return result.one()

    @staticmethod
    def _select() -> SelectOfScalar[RestrictionRow]:
        # Upserts bypass the identity map, so loaded rows are refreshed on read.
        return select(RestrictionRow).execution_options(populate_existing=True)


def _to_restriction(row: RestrictionRow) -> Restriction:
    return Restriction(
        chat_id=row.chat_id,
        user_id=row.user_id,
        created_at=as_utc(row.created_at),
        until=None if row.until is None else as_utc(row.until),
    )
