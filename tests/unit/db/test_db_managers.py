"""ManagerRepository (group_managers) against SQLite and the in-memory fake alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gmbot.domain.ports import UnitOfWorkFactory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, B, C = -1001, -1002, -1003


async def test_saw_groups_of_and_forget(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.managers.saw(A, [1, 2, 2], T0)
        await uow.managers.saw(B, [1], T0 + timedelta(minutes=1))
        await uow.managers.saw(C, [], T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.managers.groups_of(1, 10) == [B, A]  # most recently seen first
        assert await uow.managers.groups_of(2, 10) == [A]
        assert await uow.managers.groups_of(1, 1) == [B]
        # Seen again: refreshed, not duplicated.
        await uow.managers.saw(A, [1], T0 + timedelta(minutes=2))
        await uow.managers.forget(B, 2)  # not there: nothing happens
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.managers.groups_of(1, 10) == [A, B]
        await uow.managers.forget(A, 1)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.managers.groups_of(1, 10) == [B]
        assert await uow.managers.groups_of(2, 10) == [A]


async def test_uncommitted_sightings_are_rolled_back(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.managers.saw(A, [1], T0)
    async with uow_factory() as uow:
        assert await uow.managers.groups_of(1, 10) == []
