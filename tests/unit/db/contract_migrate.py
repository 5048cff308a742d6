"""Contract: moving a group to its supergroup id."""

from __future__ import annotations

from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GateAction,
    GroupSettings,
    ProtectedGroup,
    Restriction,
)
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    ADMIN,
    ALPHA,
    BETA,
    CHAT,
    NEW_CHAT,
    OTHER_ADMIN,
    OTHER_CHAT,
    OTHER_USER,
    T0,
    T1,
    T2,
    USER,
    load,
    protect,
)


class MigrateContract:
    async def test_migrate_moves_the_group_and_everything_keyed_by_it(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, linked_chat_id=-1003000000001)
        settings = GroupSettings(GateAction.DELETE, 10, None, False)
        mute = Restriction(CHAT, USER, T1, T2)
        async with uow_factory() as uow:
            await uow.groups.update_settings(CHAT, settings)
            await uow.groups.set_missing_rights(CHAT, ["can_invite_users"])
            await uow.owners.add(CHAT, ADMIN, T0)
            await uow.exempt.add(CHAT, OTHER_USER, ADMIN, T0)
            await uow.restrictions.add(mute)
            await uow.audit.add(AuditEntry(AuditKind.PROTECT, CHAT, actor_id=ADMIN))
            await uow.commit()
        before = await load(uow_factory)
        assert before is not None

        async with uow_factory() as uow:
            assert await uow.groups.migrate(CHAT, NEW_CHAT)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.groups.get(CHAT) is None
            moved = await uow.groups.get(NEW_CHAT)
            assert moved is not None
            assert moved == ProtectedGroup(
                chat_id=NEW_CHAT,
                title=before.title,
                protected_by=before.protected_by,
                protected_at=before.protected_at,
                enabled=True,
                settings=settings,
                channels=(ALPHA, BETA),
                linked_chat_id=-1003000000001,
                missing_rights=("can_invite_users",),
            )
            assert await uow.owners.list(NEW_CHAT) == [ADMIN]
            assert await uow.owners.list(CHAT) == []
            assert await uow.exempt.list(NEW_CHAT) == [OTHER_USER]
            assert await uow.exempt.list(CHAT) == []
            assert await uow.restrictions.get(NEW_CHAT, USER) == Restriction(NEW_CHAT, USER, T1, T2)
            assert await uow.restrictions.get(CHAT, USER) is None
            assert await uow.groups.groups_for_channel(ALPHA.channel_id) == [moved]
            assert await uow.groups.counts() == (1, 1, 2)
            # Old entries keep their id; the move itself is recorded under the new one.
            assert [e.kind for e in await uow.audit.recent(CHAT)] == [AuditKind.PROTECT]
            [entry] = await uow.audit.recent(NEW_CHAT)
            assert (entry.kind, entry.chat_id) == (AuditKind.MIGRATE, NEW_CHAT)
            assert str(CHAT) in entry.detail

    async def test_migrate_merges_into_an_existing_group(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, CHAT, channels=(ALPHA, BETA), now=T0, linked_chat_id=-1003)
        await protect(uow_factory, NEW_CHAT, channels=(BETA,), by=OTHER_ADMIN, now=T1)
        new_settings = GroupSettings(prompt_ttl=90)
        async with uow_factory() as uow:
            await uow.groups.update_settings(NEW_CHAT, new_settings)
            await uow.groups.set_enabled(NEW_CHAT, False)
            await uow.owners.add(CHAT, ADMIN, T0)
            await uow.owners.add(NEW_CHAT, ADMIN, T1)
            await uow.owners.add(NEW_CHAT, OTHER_ADMIN, T1)
            await uow.exempt.add(CHAT, USER, None, T0)
            await uow.exempt.add(NEW_CHAT, USER, ADMIN, T1)
            await uow.restrictions.add(Restriction(CHAT, USER, T0))
            await uow.restrictions.add(Restriction(NEW_CHAT, USER, T1, T2))
            await uow.restrictions.add(Restriction(CHAT, OTHER_USER, T0))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.groups.migrate(CHAT, NEW_CHAT)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.groups.get(CHAT) is None
            merged = await uow.groups.get(NEW_CHAT)
            assert merged is not None
            assert (merged.protected_by, merged.protected_at) == (OTHER_ADMIN, T1)
            assert merged.settings == new_settings
            assert merged.enabled  # the old group was enabled
            assert merged.linked_chat_id == -1003
            # The new group's own BETA link (T1) is kept; ALPHA (T0) moved in.
            assert merged.channels == (ALPHA, BETA)
            assert await uow.owners.list(NEW_CHAT) == [ADMIN, OTHER_ADMIN]
            assert await uow.exempt.list(NEW_CHAT) == [USER]
            assert await uow.restrictions.for_user(USER) == [Restriction(NEW_CHAT, USER, T1, T2)]
            assert await uow.restrictions.for_user(OTHER_USER) == [
                Restriction(NEW_CHAT, OTHER_USER, T0)
            ]
            assert await uow.groups.counts() == (1, 1, 2)

    async def test_migrate_unknown_or_same_group_does_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)
        async with uow_factory() as uow:
            assert not await uow.groups.migrate(OTHER_CHAT, NEW_CHAT)
            assert not await uow.groups.migrate(CHAT, CHAT)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.groups.get(NEW_CHAT) is None
            assert await uow.groups.get(CHAT) is not None
            assert await uow.audit.counts() == {}

    async def test_migrate_rolled_back_leaves_everything_in_place(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        before = await protect(uow_factory)
        async with uow_factory() as uow:
            await uow.owners.add(CHAT, ADMIN, T0)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.groups.migrate(CHAT, NEW_CHAT)
            await uow.rollback()

        async with uow_factory() as uow:
            assert await uow.groups.get(CHAT) == before
            assert await uow.groups.get(NEW_CHAT) is None
            assert await uow.owners.list(CHAT) == [ADMIN]
            assert await uow.audit.counts() == {}
