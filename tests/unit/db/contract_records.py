"""Contract: owners, bot users, exemptions, restrictions and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gmbot.domain.models import AuditEntry, AuditKind, Restriction
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    ADMIN,
    CHAT,
    NEW_CHAT,
    OTHER_ADMIN,
    OTHER_CHAT,
    OTHER_USER,
    T0,
    T1,
    T2,
    USER,
)


class RecordContract:
    async def test_owners_are_listed_once_in_the_order_added(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.owners.add(CHAT, OTHER_ADMIN, T1)
            await uow.owners.add(CHAT, ADMIN, T0)
            await uow.owners.add(CHAT, OTHER_ADMIN, T2)
            await uow.owners.add(OTHER_CHAT, USER, T0)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.owners.list(CHAT) == [ADMIN, OTHER_ADMIN]
            assert await uow.owners.list(OTHER_CHAT) == [USER]
            assert await uow.owners.list(NEW_CHAT) == []

    async def test_reachable_users_started_the_bot_and_did_not_block_it(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.users.mark_started(USER, T0)
            await uow.users.mark_started(ADMIN, T0)
            await uow.users.mark_started(OTHER_ADMIN, T0)
            await uow.users.mark_blocked(OTHER_ADMIN)
            await uow.users.mark_blocked(OTHER_USER)  # never started: nothing to record
            await uow.commit()

        async with uow_factory() as uow:
            wanted = [OTHER_USER, USER, OTHER_ADMIN, ADMIN, USER]
            assert await uow.users.reachable(wanted) == [USER, ADMIN]
            assert await uow.users.reachable([]) == []

    async def test_starting_the_bot_again_after_blocking_it(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.users.mark_started(USER, T0)
            await uow.users.mark_blocked(USER)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.users.reachable([USER]) == []
            await uow.users.mark_started(USER, T1)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.users.reachable([USER]) == [USER]

    async def test_exempt_add_remove_list(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            assert await uow.exempt.add(CHAT, OTHER_USER, ADMIN, T1)
            assert await uow.exempt.add(CHAT, USER, None, T0)
            assert not await uow.exempt.add(CHAT, USER, ADMIN, T2)
            assert await uow.exempt.add(OTHER_CHAT, USER, ADMIN, T0)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.exempt.list(CHAT) == [USER, OTHER_USER]
            assert await uow.exempt.remove(CHAT, USER)
            assert not await uow.exempt.remove(CHAT, USER)
            assert not await uow.exempt.remove(NEW_CHAT, USER)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.exempt.list(CHAT) == [OTHER_USER]
            assert await uow.exempt.list(OTHER_CHAT) == [USER]
            assert await uow.exempt.list(NEW_CHAT) == []

    async def test_restriction_add_replaces_the_chat_user_pair(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.restrictions.add(Restriction(CHAT, USER, T0))
            assert await uow.restrictions.get(CHAT, USER) == Restriction(CHAT, USER, T0)
            await uow.restrictions.add(Restriction(CHAT, USER, T1, T2))
            assert await uow.restrictions.get(CHAT, USER) == Restriction(CHAT, USER, T1, T2)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.restrictions.get(CHAT, USER) == Restriction(CHAT, USER, T1, T2)
            assert await uow.restrictions.get(CHAT, OTHER_USER) is None
            assert await uow.restrictions.get(OTHER_CHAT, USER) is None

    async def test_restriction_remove(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.restrictions.add(Restriction(CHAT, USER, T0))
            await uow.restrictions.add(Restriction(OTHER_CHAT, USER, T0))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.restrictions.remove(CHAT, USER)
            assert not await uow.restrictions.remove(CHAT, USER)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.restrictions.get(CHAT, USER) is None
            assert await uow.restrictions.for_user(USER) == [Restriction(OTHER_CHAT, USER, T0)]

    async def test_restrictions_for_user_across_groups_oldest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.restrictions.add(Restriction(CHAT, USER, T1))
            await uow.restrictions.add(Restriction(NEW_CHAT, USER, T0, T2))
            await uow.restrictions.add(Restriction(OTHER_CHAT, USER, T1))
            await uow.restrictions.add(Restriction(CHAT, OTHER_USER, T0))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.restrictions.for_user(USER) == [
                Restriction(NEW_CHAT, USER, T0, T2),
                Restriction(min(CHAT, OTHER_CHAT), USER, T1),
                Restriction(max(CHAT, OTHER_CHAT), USER, T1),
            ]
            assert await uow.restrictions.for_user(ADMIN) == []

    async def test_count_active_restrictions(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.restrictions.add(Restriction(CHAT, USER, T0))  # until verified
            await uow.restrictions.add(Restriction(CHAT, OTHER_USER, T0, T1))
            await uow.restrictions.add(Restriction(OTHER_CHAT, USER, T0, T2))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.restrictions.count_active(T0) == 3
            assert await uow.restrictions.count_active(T1) == 2  # expiry is exclusive
            assert await uow.restrictions.count_active(T2 + timedelta(seconds=1)) == 1

    async def test_audit_recent_is_newest_first_and_limited(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        entries = [
            AuditEntry(AuditKind.PROTECT, CHAT, actor_id=ADMIN, detail="a", created_at=T0),
            AuditEntry(AuditKind.MUTE, CHAT, user_id=USER, detail="b", created_at=T2),
            AuditEntry(AuditKind.VERIFY, CHAT, user_id=USER, detail="c", created_at=T1),
            # Same instant as the previous one: written later, listed first.
            AuditEntry(AuditKind.UNMUTE, CHAT, user_id=USER, detail="d", created_at=T1),
            AuditEntry(AuditKind.MUTE, OTHER_CHAT, user_id=USER, created_at=T2),
        ]
        async with uow_factory() as uow:
            for entry in entries:
                await uow.audit.add(entry)
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.audit.recent(CHAT) == [entries[1], entries[3], entries[2], entries[0]]
            assert await uow.audit.recent(CHAT, limit=2) == [entries[1], entries[3]]
            assert await uow.audit.recent(CHAT, limit=0) == []
            assert await uow.audit.recent(OTHER_CHAT) == [entries[4]]
            assert await uow.audit.recent(NEW_CHAT) == []

    async def test_audit_fills_in_created_at(self, uow_factory: UnitOfWorkFactory) -> None:
        before = datetime.now(UTC)
        async with uow_factory() as uow:
            await uow.audit.add(AuditEntry(AuditKind.RIGHTS_LOST, CHAT, detail="redis down"))
            await uow.commit()
        after = datetime.now(UTC)

        async with uow_factory() as uow:
            [entry] = await uow.audit.recent(CHAT)
        assert entry.created_at is not None
        assert entry.created_at.tzinfo is UTC
        assert before <= entry.created_at <= after
        assert (entry.kind, entry.detail, entry.user_id, entry.actor_id) == (
            AuditKind.RIGHTS_LOST,
            "redis down",
            None,
            None,
        )

    async def test_audit_counts_per_kind(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            assert await uow.audit.counts() == {}
            for kind in (AuditKind.MUTE, AuditKind.MUTE, AuditKind.VERIFY):
                await uow.audit.add(AuditEntry(kind, CHAT, created_at=T0))
            await uow.audit.add(AuditEntry(AuditKind.MUTE, OTHER_CHAT, created_at=T0))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.audit.counts() == {"mute": 3, "verify": 1}

    async def test_audit_count_since_is_per_group_and_kind(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            for when in (T0, T1, T2, T2):
                await uow.audit.add(AuditEntry(AuditKind.DRY_RUN, CHAT, USER, created_at=when))
            await uow.audit.add(AuditEntry(AuditKind.MUTE, CHAT, USER, created_at=T2))
            await uow.audit.add(AuditEntry(AuditKind.DRY_RUN, OTHER_CHAT, USER, created_at=T2))
            await uow.commit()

        async with uow_factory() as uow:
            assert await uow.audit.count_since(CHAT, AuditKind.DRY_RUN, T0) == 4
            assert await uow.audit.count_since(CHAT, AuditKind.DRY_RUN, T1) == 3  # inclusive
            assert await uow.audit.count_since(CHAT, AuditKind.DRY_RUN, T2) == 2
            later = T2 + timedelta(seconds=1)
            assert await uow.audit.count_since(CHAT, AuditKind.DRY_RUN, later) == 0
            assert await uow.audit.count_since(CHAT, AuditKind.MUTE, T0) == 1
            assert await uow.audit.count_since(NEW_CHAT, AuditKind.DRY_RUN, T0) == 0
