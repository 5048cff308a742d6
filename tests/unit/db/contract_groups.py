"""Contract: group settings, channel state, look-ups and counts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gmbot.domain.models import (
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    Restriction,
)
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    ADMIN,
    ALPHA,
    BETA,
    CHAT,
    GAMMA,
    NEW_CHAT,
    OTHER_CHAT,
    T0,
    T1,
    T2,
    USER,
    load,
    protect,
)


class GroupContract:
    async def test_set_enabled(self, uow_factory: UnitOfWorkFactory) -> None:
        await protect(uow_factory)
        async with uow_factory() as uow:
            assert await uow.groups.set_enabled(CHAT, False)
            assert not await uow.groups.set_enabled(OTHER_CHAT, True)
            await uow.commit()
        group = await load(uow_factory)
        assert group is not None
        assert not group.enabled
        assert group.channels == (ALPHA, BETA)

        async with uow_factory() as uow:
            assert await uow.groups.set_enabled(CHAT, True)
            await uow.commit()
        group = await load(uow_factory)
        assert group is not None
        assert group.enabled

    async def test_update_settings(self, uow_factory: UnitOfWorkFactory) -> None:
        await protect(uow_factory)
        settings = GroupSettings(GateAction.DELETE, 120, 3600, False)
        async with uow_factory() as uow:
            assert await uow.groups.update_settings(CHAT, settings)
            assert not await uow.groups.update_settings(OTHER_CHAT, settings)
            await uow.commit()

        group = await load(uow_factory)
        assert group is not None
        assert group.settings == settings
        assert await load(uow_factory, OTHER_CHAT) is None

    async def test_set_missing_rights(self, uow_factory: UnitOfWorkFactory) -> None:
        await protect(uow_factory)
        rights = ["can_delete_messages", "can_restrict_members", "can_delete_messages"]
        async with uow_factory() as uow:
            assert await uow.groups.set_missing_rights(CHAT, rights)
            assert not await uow.groups.set_missing_rights(OTHER_CHAT, rights)
            await uow.commit()
        group = await load(uow_factory)
        assert group is not None
        assert group.missing_rights == ("can_delete_messages", "can_restrict_members")

        async with uow_factory() as uow:
            assert await uow.groups.set_missing_rights(CHAT, [])
            await uow.commit()
        group = await load(uow_factory)
        assert group is not None
        assert group.missing_rights == ()

    async def test_set_missing_rights_rejects_names_that_cannot_round_trip(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)
        async with uow_factory() as uow:
            with pytest.raises(ValueError, match="invalid right"):
                await uow.groups.set_missing_rights(CHAT, ["a,b"])
            with pytest.raises(ValueError, match="invalid right"):
                await uow.groups.set_missing_rights(CHAT, [""])

    async def test_set_channel_admin_marks_the_channel_in_every_group(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, CHAT, channels=(ALPHA, BETA))
        await protect(uow_factory, OTHER_CHAT, channels=(ALPHA,))
        await protect(uow_factory, NEW_CHAT, channels=(BETA,))
        async with uow_factory() as uow:
            affected = await uow.groups.set_channel_admin(ALPHA.channel_id, False)
            assert await uow.groups.set_channel_admin(-1002999999999, False) == []
            await uow.commit()

        assert affected == sorted([CHAT, OTHER_CHAT])
        lost = LinkedChannel(ALPHA.channel_id, "Alpha", username="alpha", bot_is_admin=False)
        group = await load(uow_factory)
        assert group is not None
        assert group.channels == (lost, BETA)
        other = await load(uow_factory, OTHER_CHAT)
        assert other is not None
        assert other.channels == (lost,)

        async with uow_factory() as uow:
            assert await uow.groups.set_channel_admin(ALPHA.channel_id, True) == affected
            await uow.commit()
        other = await load(uow_factory, OTHER_CHAT)
        assert other is not None
        assert other.channels == (ALPHA,)

    async def test_rename_channel_keeps_it_linked_everywhere(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, CHAT, channels=(ALPHA, BETA))
        await protect(uow_factory, OTHER_CHAT, channels=(ALPHA,))
        async with uow_factory() as uow:
            await uow.groups.rename_channel(ALPHA.channel_id, "Alpha News", None)
            await uow.groups.rename_channel(-1002999999999, "Nobody", "nobody")
            await uow.commit()

        renamed = LinkedChannel(ALPHA.channel_id, "Alpha News", username=None)
        group = await load(uow_factory)
        assert group is not None
        assert group.channels == (renamed, BETA)
        other = await load(uow_factory, OTHER_CHAT)
        assert other is not None
        assert other.channels == (renamed,)

    async def test_groups_for_channel_lists_enabled_groups_with_all_their_channels(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, OTHER_CHAT, channels=(BETA, ALPHA))
        await protect(uow_factory, CHAT, channels=(ALPHA,))
        await protect(uow_factory, NEW_CHAT, channels=(ALPHA,))
        await protect(uow_factory, -1004000000000, channels=(GAMMA,))
        async with uow_factory() as uow:
            await uow.groups.set_enabled(NEW_CHAT, False)
            await uow.commit()

        async with uow_factory() as uow:
            groups = await uow.groups.groups_for_channel(ALPHA.channel_id)
            assert await uow.groups.groups_for_channel(-1002999999999) == []

        assert [g.chat_id for g in groups] == sorted([CHAT, OTHER_CHAT])
        assert groups[0] == await load(uow_factory, groups[0].chat_id)
        by_id = {g.chat_id: g for g in groups}
        assert by_id[OTHER_CHAT].channels == (BETA, ALPHA)
        assert by_id[CHAT].channels == (ALPHA,)

    async def test_a_unit_of_work_reads_its_own_writes(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        settings = GroupSettings(GateAction.DELETE, 5, 60, False)
        async with uow_factory() as uow:
            await uow.groups.protect(CHAT, "Group", ADMIN, None, [ALPHA, BETA], T0)
            await uow.groups.update_settings(CHAT, settings)
            await uow.groups.set_missing_rights(CHAT, ["can_pin_messages"])
            await uow.groups.rename_channel(ALPHA.channel_id, "Alpha 2", "alpha2")
            await uow.groups.set_channel_admin(BETA.channel_id, False)
            await uow.groups.unlink(CHAT, [ALPHA.channel_id])
            await uow.groups.protect(CHAT, "Group 2", ADMIN, None, [GAMMA], T1)
            await uow.groups.set_enabled(CHAT, False)
            group = await uow.groups.get(CHAT)
            await uow.restrictions.add(Restriction(CHAT, USER, T0))
            await uow.restrictions.add(Restriction(CHAT, USER, T1, T2))
            restriction = await uow.restrictions.get(CHAT, USER)

        assert group == ProtectedGroup(
            chat_id=CHAT,
            title="Group 2",
            protected_by=ADMIN,
            protected_at=T0,
            enabled=False,
            settings=settings,
            channels=(replace(BETA, bot_is_admin=False), GAMMA),
            missing_rights=("can_pin_messages",),
        )
        assert restriction == Restriction(CHAT, USER, T1, T2)
        assert await load(uow_factory) is None

    async def test_counts(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            assert await uow.groups.counts() == (0, 0, 0)
        await protect(uow_factory, CHAT, channels=(ALPHA, BETA))
        await protect(uow_factory, OTHER_CHAT, channels=(ALPHA,))
        await protect(uow_factory, NEW_CHAT, channels=(GAMMA,))
        async with uow_factory() as uow:
            await uow.groups.unlink(NEW_CHAT)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.groups.counts() == (2, 3, 3)
