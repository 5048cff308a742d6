"""The audit log: every protect, unprotect, mute, unmute, verification..."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.tables import AuditRow, as_utc
from gmbot.domain.models import AuditEntry, AuditKind
from gmbot.domain.ports import AuditRepository


class SqlAuditRepository(AuditRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: AuditEntry) -> None:
        await self._session.exec(
            insert(AuditRow).values(
                kind=entry.kind.value,
                chat_id=entry.chat_id,
                user_id=entry.user_id,
                actor_id=entry.actor_id,
                detail=entry.detail,
                created_at=entry.created_at or datetime.now(UTC),
            )
        )

    async def recent(self, chat_id: int, limit: int = 20) -> list[AuditEntry]:
        result = await self._session.exec(
            select(AuditRow)
            .where(col(AuditRow.chat_id) == chat_id)
            # id breaks ties between entries written in the same instant.
            .order_by(col(AuditRow.created_at).desc(), col(AuditRow.id).desc())
            .limit(max(limit, 0))
        )
        return [
            AuditEntry(
                kind=AuditKind(row.kind),
                chat_id=row.chat_id,
                user_id=row.user_id,
                actor_id=row.actor_id,
                detail=row.detail,
                created_at=as_utc(row.created_at),
            )
            for row in result.all()
        ]

    async def count_since(self, chat_id: int, kind: AuditKind, since: datetime) -> int:
        result = await self._session.exec(
            select(func.count())
            .select_from(AuditRow)
            .where(
                col(AuditRow.chat_id) == chat_id,
                col(AuditRow.created_at) >= since,
                col(AuditRow.kind) == kind.value,
            )
        )
        return int(result.one())

    async def counts(self) -> dict[str, int]:
        result = await self._session.exec(
            select(AuditRow.kind, func.count()).group_by(col(AuditRow.kind))
        )
        return dict(result.all())
