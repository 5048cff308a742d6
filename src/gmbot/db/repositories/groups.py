"""Protected groups, their channels and the links between them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, true, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gmbot.db.repositories._rows import (
    join_rights,
    new_group_row,
    settings_columns,
    to_channel,
    to_group,
)
from gmbot.db.repositories._upsert import insert_for
from gmbot.db.tables import (
    AuditRow,
    ChannelRow,
    ExemptRow,
    GroupRow,
    LinkRow,
    OwnerRow,
    RestrictionRow,
    as_utc,
)
from gmbot.domain.models import AuditKind, GroupSettings, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import GroupRepository

# Per chat id: rows keyed by (chat_id, key) that migrate() moves to the new id.
_CHAT_KEYED = (
    (LinkRow, LinkRow.channel_id),
    (OwnerRow, OwnerRow.user_id),
    (ExemptRow, ExemptRow.user_id),
    (RestrictionRow, RestrictionRow.user_id),
)


class SqlGroupRepository(GroupRepository):
    """Groups are written through the ORM; channels and links with statements."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, chat_id: int) -> ProtectedGroup | None:
        row = await self._session.get(GroupRow, chat_id)
        if row is None:
            return None
        channels = await self._channels([chat_id])
        return to_group(row, channels.get(chat_id, []))

    async def protect(
        self,
        chat_id: int,
        title: str,
        protected_by: int | None,
        linked_chat_id: int | None,
        channels: Sequence[LinkedChannel],
        now: datetime,
    ) -> ProtectedGroup:
        """Re-protecting a disabled group records the new protector and time;
        an enabled group keeps its original ones. Settings are never touched.
        """
        now = as_utc(now)
        row = await self._session.get(GroupRow, chat_id)
        if row is None:
            row = new_group_row(chat_id, title, protected_by, now)
            self._session.add(row)
        elif not row.enabled:
            # Protecting a disabled group starts a new protection: new owner, new date.
            row.protected_by, row.protected_at = protected_by, now
        row.enabled, row.title, row.linked_chat_id = True, title, linked_chat_id
        # Last description of a channel wins; first mention fixes its link order.
        unique = {channel.channel_id: channel for channel in channels}
        if unique:
            await self._upsert_channels(unique.values())
            for channel_id in unique:
                await self._link(chat_id, channel_id, now)
        group = await self.get(chat_id)
        assert group is not None
        return group

    async def unlink(self, chat_id: int, channel_ids: Sequence[int] | None = None) -> int:
        removed = 0
        if channel_ids is None or channel_ids:
            stmt = delete(LinkRow).where(col(LinkRow.chat_id) == chat_id)
            if channel_ids is not None:
                stmt = stmt.where(col(LinkRow.channel_id).in_(channel_ids))
            result = await self._session.exec(stmt.execution_options(synchronize_session=False))
            removed = result.rowcount
        left = await self._session.exec(
            select(func.count()).select_from(LinkRow).where(col(LinkRow.chat_id) == chat_id)
        )
        if left.one() == 0:
            await self._update(chat_id, enabled=False)
        return removed

    async def set_enabled(self, chat_id: int, enabled: bool) -> bool:
        return await self._update(chat_id, enabled=enabled)

    async def update_settings(self, chat_id: int, settings: GroupSettings) -> bool:
        return await self._update(
            chat_id,
            action=settings.action.value,
            prompt_ttl=settings.prompt_ttl,
            mute_seconds=settings.mute_seconds,
            delete_channel_posts=settings.delete_channel_posts,
            raid_mode=settings.raid.value,
            raid_threshold=settings.raid_threshold,
            **settings_columns(settings),
        )

    async def set_missing_rights(self, chat_id: int, rights: Sequence[str]) -> bool:
        return await self._update(chat_id, missing_rights=join_rights(rights))

    async def set_channel_admin(self, channel_id: int, bot_is_admin: bool) -> list[int]:
        await self._session.exec(
            update(ChannelRow)
            .where(col(ChannelRow.channel_id) == channel_id)
            .values(bot_is_admin=bot_is_admin)
            .execution_options(synchronize_session=False)
        )
        chat_ids = await self._session.exec(
            select(LinkRow.chat_id)
            .where(col(LinkRow.channel_id) == channel_id)
            .order_by(col(LinkRow.chat_id))
        )
        return list(chat_ids.all())

    async def rename_channel(self, channel_id: int, title: str, username: str | None) -> None:
        await self._session.exec(
            update(ChannelRow)
            .where(col(ChannelRow.channel_id) == channel_id)
            .values(title=title, username=username)
            .execution_options(synchronize_session=False)
        )

    async def groups_for_channel(self, channel_id: int) -> list[ProtectedGroup]:
        result = await self._session.exec(
            select(GroupRow)
            .join(LinkRow, col(LinkRow.chat_id) == col(GroupRow.chat_id))
            .where(col(LinkRow.channel_id) == channel_id, col(GroupRow.enabled) == true())
            .order_by(col(GroupRow.chat_id))
        )
        rows = result.all()
        channels = await self._channels([row.chat_id for row in rows])
        return [to_group(row, channels.get(row.chat_id, [])) for row in rows]

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> bool:
        """Move the group and everything keyed by its id; records a MIGRATE audit entry.

        When the new id is already protected, its own row and settings are kept
        and the old group's links, owners, exemptions and mutes are merged in.
        Audit entries keep the id they were written under.
        """
        if old_chat_id == new_chat_id:
            return False
        old = await self._session.get(GroupRow, old_chat_id)
        if old is None:
            return False
        new = await self._session.get(GroupRow, new_chat_id)
        if new is None:
            data = old.model_dump()
            data["chat_id"] = new_chat_id
            self._session.add(GroupRow(**data))
        else:
            new.enabled = new.enabled or old.enabled
            if new.linked_chat_id is None:
                new.linked_chat_id = old.linked_chat_id
        # The new row must exist before links (foreign key) are pointed at it.
        await self._session.flush()
        for model, key in _CHAT_KEYED:
            chat = col(model.chat_id)
            taken = select(col(key)).where(chat == new_chat_id)
            await self._session.exec(
                update(model)
                .where(chat == old_chat_id, col(key).not_in(taken.scalar_subquery()))
                .values(chat_id=new_chat_id)
                .execution_options(synchronize_session=False)
            )
            # Whatever is left collided with a row the new id already has.
            await self._session.exec(
                delete(model)
                .where(chat == old_chat_id)
                .execution_options(synchronize_session=False)
            )
        await self._session.delete(old)
        self._session.add(
            AuditRow(
                kind=AuditKind.MIGRATE.value,
                chat_id=new_chat_id,
                detail=f"migrated from {old_chat_id}",
                created_at=datetime.now(UTC),
            )
        )
        await self._session.flush()
        return True

    async def counts(self) -> tuple[int, int, int]:
        enabled = await self._session.exec(
            select(func.count()).select_from(GroupRow).where(col(GroupRow.enabled) == true())
        )
        total = await self._session.exec(select(func.count()).select_from(GroupRow))
        links = await self._session.exec(select(func.count()).select_from(LinkRow))
        return enabled.one(), total.one(), links.one()

    # ----------------------------------------------------------------- helpers

    async def _update(self, chat_id: int, **values: object) -> bool:
        # ORM-enabled UPDATE: a GroupRow already loaded in this session is kept in sync.
        result = await self._session.exec(
            update(GroupRow).where(col(GroupRow.chat_id) == chat_id).values(**values)
        )
        return result.rowcount > 0

    async def _upsert_channels(self, channels: Iterable[LinkedChannel]) -> None:
        stmt = insert_for(self._session, ChannelRow).values(
            [
                {
                    "channel_id": c.channel_id,
                    "title": c.title,
                    "username": c.username,
                    "invite_link": c.invite_link,
                    "bot_is_admin": c.bot_is_admin,
                }
                for c in channels
            ]
        )
        new = stmt.excluded
        await self._session.exec(
            stmt.on_conflict_do_update(
                index_elements=[col(ChannelRow.channel_id)],
                set_={
                    "title": new.title,
                    "username": new.username,
                    "invite_link": new.invite_link,
                    "bot_is_admin": new.bot_is_admin,
                },
            )
        )

    async def _link(self, chat_id: int, channel_id: int, now: datetime) -> None:
        # One statement per link so ids, the tie-break of the link order,
        # follow the caller's order. An existing link keeps its original time.
        stmt = insert_for(self._session, LinkRow).values(
            chat_id=chat_id, channel_id=channel_id, linked_at=now
        )
        await self._session.exec(
            stmt.on_conflict_do_nothing(
                index_elements=[col(LinkRow.chat_id), col(LinkRow.channel_id)]
            )
        )

    async def _channels(self, chat_ids: Sequence[int]) -> dict[int, list[LinkedChannel]]:
        by_group: dict[int, list[LinkedChannel]] = {}
        if not chat_ids:
            return by_group
        result = await self._session.exec(
            select(LinkRow.chat_id, ChannelRow)
            .join(ChannelRow, col(ChannelRow.channel_id) == col(LinkRow.channel_id))
            .where(col(LinkRow.chat_id).in_(chat_ids))
            .order_by(col(LinkRow.linked_at), col(LinkRow.id))
            # Channel upserts bypass the identity map: refresh any loaded row.
            .execution_options(populate_existing=True)
        )
        for chat_id, channel in result:
            by_group.setdefault(chat_id, []).append(to_channel(channel))
        return by_group
