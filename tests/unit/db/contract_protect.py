"""Contract: protecting and unlinking groups, channel order."""

from __future__ import annotations

from gmbot.domain.models import GateAction, GroupSettings, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    ADMIN,
    ALPHA,
    BETA,
    CHAT,
    GAMMA,
    OTHER_ADMIN,
    OTHER_CHAT,
    T0,
    T1,
    T2,
    load,
    protect,
)


class ProtectContract:
    async def test_get_unknown_group_is_none(self, uow_factory: UnitOfWorkFactory) -> None:
        assert await load(uow_factory) is None

    async def test_protect_creates_group_with_default_settings(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        returned = await protect(uow_factory, linked_chat_id=-1003000000001)

        expected = ProtectedGroup(
            chat_id=CHAT,
            title="Group",
            protected_by=ADMIN,
            protected_at=T0,
            enabled=True,
            settings=GroupSettings(GateAction.MUTE, 60, None, True),
            channels=(ALPHA, BETA),
            linked_chat_id=-1003000000001,
            missing_rights=(),
        )
        assert returned == expected
        assert await load(uow_factory) == expected
        assert (await load(uow_factory, OTHER_CHAT)) is None

    async def test_protect_again_keeps_settings_and_links_and_refreshes_channels(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)
        custom = GroupSettings(GateAction.DELETE, 30, 600, False)
        async with uow_factory() as uow:
            await uow.groups.update_settings(CHAT, custom)
            await uow.groups.set_missing_rights(CHAT, ["can_restrict_members"])
            await uow.commit()
        renamed_beta = LinkedChannel(BETA.channel_id, "Beta 2", username="beta2")

        group = await protect(
            uow_factory,
            channels=(renamed_beta, GAMMA),
            by=OTHER_ADMIN,
            now=T1,
            title="Renamed",
            linked_chat_id=-1003000000002,
        )

        assert group.title == "Renamed"
        assert group.linked_chat_id == -1003000000002
        assert group.settings == custom
        assert group.missing_rights == ("can_restrict_members",)
        # Still enabled, so still the original protection.
        assert (group.protected_by, group.protected_at) == (ADMIN, T0)
        assert group.channels == (ALPHA, renamed_beta, GAMMA)
        assert await load(uow_factory) == group

    async def test_protect_disabled_group_reenables_it_as_a_new_protection(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)
        async with uow_factory() as uow:
            await uow.groups.update_settings(CHAT, GroupSettings(prompt_ttl=15))
            assert await uow.groups.unlink(CHAT) == 2
            await uow.commit()

        group = await protect(uow_factory, channels=(GAMMA,), by=OTHER_ADMIN, now=T1)

        assert group.enabled
        assert (group.protected_by, group.protected_at) == (OTHER_ADMIN, T1)
        assert group.settings == GroupSettings(prompt_ttl=15)
        assert group.channels == (GAMMA,)

    async def test_protect_links_a_repeated_channel_once(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        newer_alpha = LinkedChannel(ALPHA.channel_id, "Alpha v2", username="alpha2")

        group = await protect(uow_factory, channels=(ALPHA, BETA, newer_alpha))

        assert group.channels == (newer_alpha, BETA)

    async def test_channels_are_ordered_by_link_time_then_input_order(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        # Same instant: input order (not channel id order, which is GAMMA < ALPHA).
        await protect(uow_factory, channels=(ALPHA, GAMMA), now=T0)
        await protect(uow_factory, channels=(BETA,), now=T1)
        # Linking again keeps the original link time.
        group = await protect(uow_factory, channels=(GAMMA, ALPHA), now=T2)

        assert [c.channel_id for c in group.channels] == [
            ALPHA.channel_id,
            GAMMA.channel_id,
            BETA.channel_id,
        ]
        assert await load(uow_factory) == group

    async def test_unlink_some_channels_keeps_the_group_enabled(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, channels=(ALPHA, BETA, GAMMA))
        async with uow_factory() as uow:
            removed = await uow.groups.unlink(CHAT, [ALPHA.channel_id, -1002999999999])
            await uow.commit()

        assert removed == 1
        group = await load(uow_factory)
        assert group is not None
        assert group.enabled
        assert group.channels == (BETA, GAMMA)

    async def test_unlink_last_channel_disables_the_group(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)
        async with uow_factory() as uow:
            assert await uow.groups.unlink(CHAT, [ALPHA.channel_id, BETA.channel_id]) == 2
            await uow.commit()

        group = await load(uow_factory)
        assert group is not None
        assert (group.enabled, group.channels, group.active) == (False, (), False)

    async def test_unlink_all_removes_every_link_and_disables(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory, channels=(ALPHA, BETA, GAMMA))
        await protect(uow_factory, OTHER_CHAT, channels=(ALPHA,))
        async with uow_factory() as uow:
            assert await uow.groups.unlink(CHAT, None) == 3
            assert await uow.groups.unlink(CHAT) == 0
            await uow.commit()

        group = await load(uow_factory)
        assert group is not None
        assert (group.enabled, group.channels) == (False, ())
        other = await load(uow_factory, OTHER_CHAT)
        assert other is not None
        assert other.channels == (ALPHA,)

    async def test_unlink_unknown_group_removes_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            assert await uow.groups.unlink(CHAT) == 0
            assert await uow.groups.unlink(CHAT, [ALPHA.channel_id]) == 0
            assert await uow.groups.get(CHAT) is None
