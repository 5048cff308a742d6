"""Mutes GMBot applied itself: the only ones it ever lifts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, case, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from gmbot.db.repositories._upsert import insert_for
from gmbot.db.tables import RestrictionRow, as_utc
from gmbot.domain.models import MuteState, Restriction
from gmbot.domain.ports import RestrictionRepository


class SqlRestrictionRepository(RestrictionRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, restriction: Restriction) -> None:
        stmt = insert_for(self._session, RestrictionRow).values(**_values(restriction))
        await self._session.exec(
            stmt.on_conflict_do_update(
                index_elements=_KEY,
                set_={
                    name: stmt.excluded[name]
                    for name in ("created_at", "until", "state", "checked_at")
                },
            )
        )

    async def intend(self, restriction: Restriction) -> Restriction:
        stmt = insert_for(self._session, RestrictionRow).values(**_values(restriction))
        # One statement decides, so two writers of the pair agree on what stands: in
        # ON CONFLICT DO UPDATE the table's own columns are the row already there.
        unfinished = col(RestrictionRow.state) == MuteState.INTENT.value

        refreshed = {
            name: case((unfinished, stmt.excluded[name]), else_=column)
            for name, column in (
                ("until", col(RestrictionRow.until)),
                ("checked_at", col(RestrictionRow.checked_at)),
            )
        }
        result = await self._session.exec(
            stmt.on_conflict_do_update(index_elements=_KEY, set_=refreshed).returning(*_COLUMNS)
        )
        return _to_restriction(result.one())

    async def discard(self, restriction: Restriction) -> bool:
        result = await self._session.exec(
            delete(RestrictionRow)
            .where(
                *self._pair(restriction.chat_id, restriction.user_id),
                col(RestrictionRow.state) == restriction.state.value,
                col(RestrictionRow.created_at) == restriction.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount > 0

    async def touch(self, chat_id: int, user_id: int, checked_at: datetime) -> bool:
        result = await self._session.exec(
            update(RestrictionRow)
            .where(*self._pair(chat_id, user_id))
            .values(checked_at=checked_at)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount > 0

    async def intents(self, before: datetime, limit: int) -> list[Restriction]:
        checked = col(RestrictionRow.checked_at)
        result = await self._session.exec(
            self._select()
            .where(
                col(RestrictionRow.state) == MuteState.INTENT.value,
                or_(checked.is_(None), checked < before),
            )
            .order_by(*self._least_checked_first())
            .limit(limit)
        )
        return [_to_restriction(row) for row in result.all()]

    async def least_checked(self, limit: int) -> list[Restriction]:
        result = await self._session.exec(
            self._select()
            .where(col(RestrictionRow.state) == MuteState.ACTIVE.value)
            .order_by(*self._least_checked_first())
            .limit(limit)
        )
        return [_to_restriction(row) for row in result.all()]

    async def get(self, chat_id: int, user_id: int) -> Restriction | None:
        result = await self._session.exec(self._select().where(*self._pair(chat_id, user_id)))
        row = result.first()
        return None if row is None else _to_restriction(row)

    async def remove(self, chat_id: int, user_id: int) -> bool:
        result = await self._session.exec(
            delete(RestrictionRow)
            .where(*self._pair(chat_id, user_id))
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

    @staticmethod
    def _pair(chat_id: int, user_id: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return col(RestrictionRow.chat_id) == chat_id, col(RestrictionRow.user_id) == user_id

    @staticmethod
    def _least_checked_first() -> tuple[Any, ...]:
        # NULLS FIRST is spelled out: PostgreSQL sorts NULLs last by default, SQLite first.
        return (
            col(RestrictionRow.checked_at).asc().nulls_first(),
            col(RestrictionRow.chat_id),
            col(RestrictionRow.user_id),
        )


_KEY = [col(RestrictionRow.chat_id), col(RestrictionRow.user_id)]
_COLUMNS = (
    *_KEY,
    col(RestrictionRow.created_at),
    col(RestrictionRow.until),
    col(RestrictionRow.state),
    col(RestrictionRow.checked_at),
)


def _values(restriction: Restriction) -> dict[str, object]:
    return {
        "chat_id": restriction.chat_id,
        "user_id": restriction.user_id,
        "created_at": restriction.created_at,
        "until": restriction.until,
        "state": restriction.state.value,
        "checked_at": restriction.checked_at,
    }


def _to_restriction(row: RestrictionRow | Row[Any]) -> Restriction:
    return Restriction(
        chat_id=row.chat_id,
        user_id=row.user_id,
        created_at=as_utc(row.created_at),
        until=None if row.until is None else as_utc(row.until),
        state=MuteState(row.state),
        checked_at=None if row.checked_at is None else as_utc(row.checked_at),
    )
