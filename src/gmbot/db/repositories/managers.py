"""Admins GMBot has seen in a group (group_managers): the candidates of a user's
private group list. Only a hint: every candidate is checked live before it is shown."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.repositories._upsert import insert_for
from gmbot.db.tables import ManagerRow
from gmbot.domain.ports import ManagerRepository


class SqlManagerRepository(ManagerRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def saw(self, chat_id: int, user_ids: Sequence[int], now: datetime) -> None:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return
        stmt = insert_for(self._session, ManagerRow).values(
            [{"chat_id": chat_id, "user_id": user_id, "seen_at": now} for user_id in wanted]
        )
        await self._session.exec(
            stmt.on_conflict_do_update(
                index_elements=[col(ManagerRow.chat_id), col(ManagerRow.user_id)],
                set_={"seen_at": stmt.excluded.seen_at},
            )
        )

    async def groups_of(self, user_id: int, limit: int) -> builtins.list[int]:
        result = await self._session.exec(
            select(ManagerRow.chat_id)
            .where(col(ManagerRow.user_id) == user_id)
            .order_by(col(ManagerRow.seen_at).desc(), col(ManagerRow.chat_id).desc())
            .limit(limit)
        )
        return list(result.all())

    async def forget(self, chat_id: int, user_id: int) -> None:
        await self._session.exec(
            delete(ManagerRow)
            .where(col(ManagerRow.chat_id) == chat_id, col(ManagerRow.user_id) == user_id)
            .execution_options(synchronize_session=False)
        )
