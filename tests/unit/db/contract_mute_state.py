"""Contract: mute records with a state (intent, then active) and the reconciler's reads;
and migration 0003 on a database holding records from before it.

Run on the fake and SQLite (tests/unit/db/test_db_mute_state.py) and on PostgreSQL
(tests/integration/db/test_db_mute_state_postgres.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gmbot.db.migrate import downgrade, upgrade
from gmbot.db.repositories import SqlUnitOfWorkFactory
from gmbot.db.tables import UtcDateTime
from gmbot.domain.models import MuteState, Restriction
from gmbot.domain.ports import UnitOfWorkFactory
from tests.unit.db.contract_support import (
    CHAT,
    NEW_CHAT,
    OTHER_CHAT,
    OTHER_USER,
    T0,
    T1,
    T2,
    USER,
)

INTENT, ACTIVE = MuteState.INTENT, MuteState.ACTIVE


def intent(chat_id: int = CHAT, user_id: int = USER, **changes: object) -> Restriction:
    base = Restriction(chat_id, user_id, T0, T1, INTENT, checked_at=T0)
    return replace(base, **changes)  # type: ignore[arg-type]


async def write(uows: UnitOfWorkFactory, *records: Restriction) -> None:
    async with uows() as uow:
        for record in records:
            await uow.restrictions.add(record)
        await uow.commit()


async def stored(uows: UnitOfWorkFactory, chat_id: int = CHAT, user_id: int = USER) -> object:
    async with uows() as uow:
        return await uow.restrictions.get(chat_id, user_id)


class MuteStateContract:
    async def test_an_intent_is_written_as_given(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            now = await uow.restrictions.intend(intent())
            await uow.commit()

        assert now == intent()
        assert await stored(uow_factory) == intent()

    async def test_an_unfinished_intent_is_refreshed_and_keeps_its_start(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await write(uow_factory, intent())

        async with uow_factory() as uow:
            now = await uow.restrictions.intend(intent(created_at=T1, until=T2, checked_at=T1))
            await uow.commit()

        assert now == intent(until=T2, checked_at=T1)  # created_at is the first attempt's
        assert await stored(uow_factory) == now

    async def test_an_active_record_is_left_as_it_is(self, uow_factory: UnitOfWorkFactory) -> None:
        active = Restriction(CHAT, USER, T0, None, ACTIVE, checked_at=T1)
        await write(uow_factory, active)

        async with uow_factory() as uow:
            now = await uow.restrictions.intend(intent(created_at=T2, until=T2, checked_at=T2))
            await uow.commit()

        assert now == active
        assert await stored(uow_factory) == active

    async def test_an_intent_not_committed_is_not_kept(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async with uow_factory() as uow:
            await uow.restrictions.intend(intent())
        assert await stored(uow_factory) is None

    async def test_add_confirms_an_intent(self, uow_factory: UnitOfWorkFactory) -> None:
        await write(uow_factory, intent())
        await write(uow_factory, intent(state=ACTIVE, checked_at=T1))

        assert await stored(uow_factory) == intent(state=ACTIVE, checked_at=T1)

    async def test_discard_removes_only_the_record_read(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        await write(uow_factory, intent())

        async with uow_factory() as uow:
            # Confirmed meanwhile, or a new mute since: not the record read.
            assert not await uow.restrictions.discard(intent(state=ACTIVE))
            assert not await uow.restrictions.discard(intent(created_at=T1))
            assert not await uow.restrictions.discard(intent(user_id=OTHER_USER))
            await uow.commit()
        assert await stored(uow_factory) == intent()

        async with uow_factory() as uow:
            # until and checked_at may have moved on: the same record still.
            assert await uow.restrictions.discard(intent(until=T2, checked_at=T2))
            await uow.commit()
        assert await stored(uow_factory) is None

    async def test_touch_sets_checked_at(self, uow_factory: UnitOfWorkFactory) -> None:
        await write(uow_factory, intent(state=ACTIVE, checked_at=None))

        async with uow_factory() as uow:
            assert await uow.restrictions.touch(CHAT, USER, T2)
            assert not await uow.restrictions.touch(CHAT, OTHER_USER, T2)
            await uow.commit()

        assert await stored(uow_factory) == intent(state=ACTIVE, checked_at=T2)
        assert await stored(uow_factory, CHAT, OTHER_USER) is None

    async def test_intents_left_alone_since_before_a_time_oldest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        late = intent(OTHER_CHAT, USER, checked_at=T0 + timedelta(minutes=5))
        early = intent(CHAT, OTHER_USER, checked_at=T0)
        never = intent(CHAT, USER, checked_at=None)
        recent = intent(OTHER_CHAT, OTHER_USER, checked_at=T1)
        confirmed = intent(NEW_CHAT, USER, state=ACTIVE, checked_at=None)
        await write(uow_factory, late, early, never, recent, confirmed)

        async with uow_factory() as uow:
            assert await uow.restrictions.intents(T1, 10) == [never, early, late]
            assert await uow.restrictions.intents(T1, 2) == [never, early]
            assert await uow.restrictions.intents(T0, 10) == [never]  # strictly before

    async def test_active_records_never_checked_first_then_longest_ago(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        checked_late = intent(CHAT, USER, state=ACTIVE, checked_at=T2)
        checked_early = intent(OTHER_CHAT, USER, state=ACTIVE, checked_at=T1)
        never = intent(OTHER_CHAT, OTHER_USER, state=ACTIVE, checked_at=None)
        unfinished = intent(CHAT, OTHER_USER, checked_at=None)
        await write(uow_factory, checked_late, checked_early, never, unfinished)

        async with uow_factory() as uow:
            assert await uow.restrictions.least_checked(10) == [never, checked_early, checked_late]
            assert await uow.restrictions.least_checked(1) == [never]
            await uow.restrictions.touch(OTHER_CHAT, OTHER_USER, T2 + timedelta(seconds=1))
            await uow.commit()

        async with uow_factory() as uow:
            # Checked now, it goes to the back: over time every record comes round.
            assert [r.chat_id for r in await uow.restrictions.least_checked(2)] == [
                OTHER_CHAT,
                CHAT,
            ]
            assert (await uow.restrictions.least_checked(3))[2].user_id == OTHER_USER

    async def test_intents_in_force_and_stale_confirmed_mutes(self) -> None:
        # The domain's rule, next to the records it reads.
        assert intent(until=T0).in_force(T2)  # Telegram may hold an intent whatever its until
        assert intent(state=ACTIVE, until=None).in_force(T2)
        assert intent(state=ACTIVE, until=T2).in_force(T1)
        assert not intent(state=ACTIVE, until=T1).in_force(T1)


class ConcurrentIntentContract:
    """Two instances writing the same intent at once agree on one record."""

    async def test_concurrent_intents_leave_one_record(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        async def attempt(record: Restriction) -> Restriction:
            async with uow_factory() as uow:
                now = await uow.restrictions.intend(record)
                await uow.commit()
            return now

        first, second = await asyncio.gather(
            attempt(intent()), attempt(intent(created_at=T1, until=T2, checked_at=T1))
        )
        assert first.state is second.state is INTENT
        final = await stored(uow_factory)
        assert isinstance(final, Restriction)
        assert final.created_at in (T0, T1)
        assert final in (first, second)


# The restrictions table as revision 0002 left it (no state, no checked_at).
_OLD_RESTRICTIONS = sa.table(
    "restrictions",
    sa.column("chat_id", sa.BigInteger()),
    sa.column("user_id", sa.BigInteger()),
    sa.column("created_at", UtcDateTime()),
    sa.column("until", UtcDateTime()),
)


class MuteStateMigrationContract:
    """Subclasses get a ``migration_engine`` fixture: an engine on an empty database."""

    async def test_records_from_before_0003_become_active_and_unchecked(
        self, migration_engine: AsyncEngine
    ) -> None:
        await upgrade(migration_engine, "0002")
        async with migration_engine.begin() as connection:
            await connection.execute(
                sa.insert(_OLD_RESTRICTIONS),
                [
                    {"chat_id": CHAT, "user_id": USER, "created_at": T0, "until": None},
                    {"chat_id": OTHER_CHAT, "user_id": USER, "created_at": T1, "until": T2},
                ],
            )

        await upgrade(migration_engine, "0003")

        uows = SqlUnitOfWorkFactory(migration_engine)
        async with uows() as uow:
            assert await uow.restrictions.for_user(USER) == [
                Restriction(CHAT, USER, T0),
                Restriction(OTHER_CHAT, USER, T1, T2),
            ]
            assert (await uow.restrictions.get(CHAT, USER)).state is ACTIVE  # type: ignore[union-attr]
            assert len(await uow.restrictions.least_checked(10)) == 2
            assert await uow.restrictions.intents(T2, 10) == []
            await uow.restrictions.intend(intent(CHAT, OTHER_USER))
            await uow.commit()

        # Down again: the records stay, without their state.
        await downgrade(migration_engine, "0002")
        async with migration_engine.connect() as connection:
            rows = await connection.execute(
                sa.select(_OLD_RESTRICTIONS.c.user_id).order_by(_OLD_RESTRICTIONS.c.created_at)
            )
            assert sorted(rows.scalars()) == [USER, USER, OTHER_USER]
        await upgrade(migration_engine)

    async def test_the_state_column_refuses_unknown_states(
        self, migration_engine: AsyncEngine
    ) -> None:
        await upgrade(migration_engine)
        async with migration_engine.connect() as connection:
            insert = sa.text(
                "INSERT INTO restrictions (chat_id, user_id, created_at, state) "
                "VALUES (1, 2, :at, 'muted')"
            ).bindparams(sa.bindparam("at", T0, type_=UtcDateTime()))
            with pytest.raises(sa.exc.IntegrityError):
                await connection.execute(insert)
