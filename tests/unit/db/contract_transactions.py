"""Contract: value round trips (ids, datetimes) and unit-of-work transactions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gmbot.domain.models import AuditEntry, AuditKind, LinkedChannel, Restriction
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    ADMIN,
    ALPHA,
    CHAT,
    OTHER_ADMIN,
    OTHER_USER,
    T0,
    T1,
    T2,
    USER,
    load,
    protect,
)


class TransactionContract:
    async def test_datetimes_come_back_aware_utc(self, uow_factory: UnitOfWorkFactory) -> None:
        moscow = timezone(timedelta(hours=3))
        local = datetime(2025, 6, 1, 15, 30, 45, 123456, tzinfo=moscow)
        naive = datetime(2025, 6, 1, 12, 30, 45, 123456)  # taken to be UTC
        utc = datetime(2025, 6, 1, 12, 30, 45, 123456, tzinfo=UTC)
        async with uow_factory() as uow:
            returned = await uow.groups.protect(CHAT, "Group", ADMIN, None, [ALPHA], local)
            await uow.restrictions.add(Restriction(CHAT, USER, local, naive))
            await uow.audit.add(AuditEntry(AuditKind.MUTE, CHAT, created_at=local))
            await uow.commit()
        assert returned.protected_at == utc
        assert returned.protected_at.tzinfo is UTC

        async with uow_factory() as uow:
            group = await uow.groups.get(CHAT)
            restriction = await uow.restrictions.get(CHAT, USER)
            [entry] = await uow.audit.recent(CHAT)
            # Stored as UTC, compared as instants.
            assert await uow.restrictions.count_active(local - timedelta(microseconds=1)) == 1
            assert await uow.restrictions.count_active(utc) == 0
        assert group is not None
        assert restriction is not None
        for value in (group.protected_at, restriction.created_at, restriction.until):
            assert value == utc
            assert value is not None
            assert value.tzinfo is UTC
        assert entry.created_at == utc
        assert entry.created_at is not None
        assert entry.created_at.tzinfo is UTC

    async def test_ids_beyond_32_bits_round_trip(self, uow_factory: UnitOfWorkFactory) -> None:
        big_user = 9_007_199_254_740_993  # past 2**53 as well
        channel = LinkedChannel(-1009223372036854, "Big", username="big")
        async with uow_factory() as uow:
            await uow.groups.protect(CHAT, "Big", big_user, -1008000000000, [channel], T0)
            await uow.owners.add(CHAT, big_user, T0)
            await uow.exempt.add(CHAT, big_user, big_user, T0)
            await uow.users.mark_started(big_user, T0)
            await uow.restrictions.add(Restriction(CHAT, big_user, T0))
            await uow.audit.add(
                AuditEntry(AuditKind.MUTE, CHAT, user_id=big_user, actor_id=big_user, created_at=T0)
            )
            await uow.commit()

        async with uow_factory() as uow:
            group = await uow.groups.get(CHAT)
            assert group is not None
            assert (group.chat_id, group.protected_by, group.linked_chat_id) == (
                CHAT,
                big_user,
                -1008000000000,
            )
            assert group.channels == (channel,)
            assert await uow.owners.list(CHAT) == [big_user]
            assert await uow.exempt.list(CHAT) == [big_user]
            assert await uow.users.reachable([big_user]) == [big_user]
            assert await uow.restrictions.for_user(big_user) == [Restriction(CHAT, big_user, T0)]
            [entry] = await uow.audit.recent(CHAT)
            assert (entry.user_id, entry.actor_id) == (big_user, big_user)
            assert await uow.groups.set_channel_admin(channel.channel_id, False) == [CHAT]

    async def test_uncommitted_work_is_invisible_to_another_unit_of_work(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as writer:
            await writer.groups.protect(CHAT, "Group", ADMIN, None, [ALPHA], T0)
            await writer.restrictions.add(Restriction(CHAT, USER, T0))
            assert await writer.groups.get(CHAT) is not None  # its own writes: visible

            async with uow_factory() as reader:
                assert await reader.groups.get(CHAT) is None
                assert await reader.restrictions.get(CHAT, USER) is None

            await writer.commit()

            async with uow_factory() as reader:
                assert await reader.groups.get(CHAT) is not None
                assert await reader.restrictions.get(CHAT, USER) is not None

    async def test_leaving_without_commit_rolls_back(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.groups.protect(CHAT, "Group", ADMIN, None, [ALPHA], T0)

        assert await load(uow_factory) is None

    async def test_exception_inside_async_with_rolls_back(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await protect(uow_factory)

        async def failing_use_case() -> None:
            async with uow_factory() as uow:
                await uow.groups.set_enabled(CHAT, False)
                await uow.owners.add(CHAT, ADMIN, T0)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await failing_use_case()

        async with uow_factory() as uow:
            group = await uow.groups.get(CHAT)
            assert group is not None
            assert group.enabled
            assert await uow.owners.list(CHAT) == []

    async def test_rollback_discards_and_the_unit_of_work_goes_on(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.exempt.add(CHAT, USER, None, T0)
            await uow.rollback()
            assert await uow.exempt.list(CHAT) == []
            await uow.exempt.add(CHAT, OTHER_USER, None, T0)
            await uow.commit()
            # After a commit the unit of work opens a new transaction.
            await uow.exempt.add(CHAT, ADMIN, None, T1)

        async with uow_factory() as uow:
            assert await uow.exempt.list(CHAT) == [OTHER_USER]

    async def test_units_of_work_writing_different_rows_keep_both(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        first = uow_factory()
        second = uow_factory()
        async with first, second:
            await first.owners.add(CHAT, ADMIN, T0)
            assert await second.owners.list(CHAT) == []
            await first.commit()
            await second.owners.add(CHAT, OTHER_ADMIN, T1)
            await second.commit()

        async with uow_factory() as uow:
            assert await uow.owners.list(CHAT) == [ADMIN, OTHER_ADMIN]

    async def test_concurrent_upserts_of_one_row_do_not_conflict(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        # Two instances muting the same user at once: neither fails with a
        # duplicate key. (A SQL backend makes the second wait for the first's
        # row lock; the fake does not, so which one commits last may differ.)
        async def second_mute() -> None:
            async with uow_factory() as uow:
                await uow.restrictions.add(Restriction(CHAT, USER, T1, T2))
                await uow.users.mark_started(USER, T1)
                await uow.commit()

        async with uow_factory() as first:
            await first.restrictions.add(Restriction(CHAT, USER, T0))
            await first.users.mark_started(USER, T0)
            second = asyncio.create_task(second_mute())
            await asyncio.sleep(0.05)  # let it reach the row the first one holds
            await first.commit()
        await asyncio.wait_for(second, timeout=10)

        async with uow_factory() as uow:
            assert await uow.restrictions.get(CHAT, USER) in (
                Restriction(CHAT, USER, T0),
                Restriction(CHAT, USER, T1, T2),
            )
            assert await uow.users.reachable([USER]) == [USER]

    async def test_commit_needs_an_open_unit_of_work(self, uow_factory: UnitOfWorkFactory) -> None:
        uow = uow_factory()
        with pytest.raises(RuntimeError):
            await uow.commit()
        async with uow:
            pass
        with pytest.raises(RuntimeError):
            await uow.rollback()

    async def test_ping(self, uow_factory: UnitOfWorkFactory) -> None:
        await uow_factory.ping()
