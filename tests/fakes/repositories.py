"""In-memory implementations of the storage ports, for unit tests.

Same contract as gmbot.db.repositories: tests/unit/db runs one suite against
both. Rows are immutable values in dicts keyed like the SQL primary keys.

Transactions: a unit of work copies the committed tables when it begins and
works on the copy, so its changes stay invisible to others until commit. On
commit only the rows it changed are written back, so two units of work that
touched different rows both keep their changes (as in SQL); a row changed by
both ends up with the later commit's value. Rollback drops the copy.
"""

from __future__ import annotations

import builtins
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GroupSettings,
    LinkedChannel,
    MuteState,
    ProtectedGroup,
    Restriction,
)
from gmbot.domain.ports import (
    AuditRepository,
    BotUserRepository,
    ExemptRepository,
    GroupRepository,
    ManagerRepository,
    OwnerRepository,
    RestrictionRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)

__all__ = ["InMemoryStore", "InMemoryUnitOfWork", "InMemoryUnitOfWorkFactory", "Tables"]


def _utc(value: datetime) -> datetime:
    # As the SQL adapter: aware UTC out, naive input taken to be UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Link:
    seq: int  # like the SQL surrogate id: orders links made in the same instant
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class BotUser:
    started_at: datetime
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class Exemption:
    added_by: int | None
    added_at: datetime


@dataclass
class Tables:
    """One dict per SQL table. Group rows are stored with channels=()."""

    groups: dict[int, ProtectedGroup] = field(default_factory=dict)
    channels: dict[int, LinkedChannel] = field(default_factory=dict)
    links: dict[tuple[int, int], Link] = field(default_factory=dict)  # (chat_id, channel_id)
    owners: dict[tuple[int, int], datetime] = field(default_factory=dict)  # (chat_id, user_id)
    users: dict[int, BotUser] = field(default_factory=dict)
    exempt: dict[tuple[int, int], Exemption] = field(default_factory=dict)
    managers: dict[tuple[int, int], datetime] = field(default_factory=dict)  # (chat, user)
    restrictions: dict[tuple[int, int], Restriction] = field(default_factory=dict)
    audit: dict[int, AuditEntry] = field(default_factory=dict)

    def copy(self) -> Tables:
        return Tables(**{f.name: dict(getattr(self, f.name)) for f in fields(self)})


_ABSENT: Any = object()
_V = TypeVar("_V")


class InMemoryStore:
    """The shared "database": the committed tables every unit of work starts from."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0
        # False makes the store behave like an unreachable database.
        self.available = True
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        # Like a SQL sequence: taken ids are not given back on rollback.
        return next(self._ids)

    def apply(self, base: Tables, work: Tables) -> None:
        """Write back the rows a unit of work changed since it copied `base`."""
        for table in fields(Tables):
            before, after = getattr(base, table.name), getattr(work, table.name)
            live = getattr(self.tables, table.name)
            for key in before.keys() | after.keys():
                old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
                if old is new:
                    continue
                if new is _ABSENT:
                    live.pop(key, None)
                else:
                    live[key] = new
        self.commits += 1


class _Transaction:
    """The open unit of work's view: a copy of the store, shared by its repositories."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self._base: Tables | None = None
        self._work: Tables | None = None

    @property
    def t(self) -> Tables:
        if self._work is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._work

    def begin(self) -> None:
        self._base = self.store.tables.copy()
        self._work = self._base.copy()

    def commit(self) -> None:
        assert self._base is not None
        self.store.apply(self._base, self.t)
        self.begin()

    def close(self) -> None:
        self._base = self._work = None


class InMemoryGroupRepository(GroupRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def get(self, chat_id: int) -> ProtectedGroup | None:
        row = self._tx.t.groups.get(chat_id)
        return None if row is None else replace(row, channels=self._channels(chat_id))

    async def protect(
        self,
        chat_id: int,
        title: str,
        protected_by: int | None,
        linked_chat_id: int | None,
        channels: Sequence[LinkedChannel],
        now: datetime,
    ) -> ProtectedGroup:
        t, now = self._tx.t, _utc(now)
        row = t.groups.get(chat_id)
        if row is None:
            row = ProtectedGroup(chat_id, title, protected_by, now)
        elif not row.enabled:
            row = replace(row, protected_by=protected_by, protected_at=now)
        t.groups[chat_id] = replace(row, enabled=True, title=title, linked_chat_id=linked_chat_id)
        unique = {channel.channel_id: channel for channel in channels}
        for channel_id, channel in unique.items():
            t.channels[channel_id] = channel
            if (chat_id, channel_id) not in t.links:
                t.links[chat_id, channel_id] = Link(self._tx.store.next_id(), now)
        group = await self.get(chat_id)
        assert group is not None
        return group

    async def unlink(self, chat_id: int, channel_ids: Sequence[int] | None = None) -> int:
        t = self._tx.t
        doomed = [
            key
            for key in t.links
            if key[0] == chat_id and (channel_ids is None or key[1] in channel_ids)
        ]
        for key in doomed:
            del t.links[key]
        if not self._channels(chat_id):
            await self.set_enabled(chat_id, False)
        return len(doomed)

    async def set_enabled(self, chat_id: int, enabled: bool) -> bool:
        return self._update(chat_id, enabled=enabled)

    async def update_settings(self, chat_id: int, settings: GroupSettings) -> bool:
        return self._update(chat_id, settings=settings)

    async def set_missing_rights(self, chat_id: int, rights: Sequence[str]) -> bool:
        for right in rights:
            if "," in right or not right:
                raise ValueError(f"invalid right name: {right!r}")
        return self._update(chat_id, missing_rights=tuple(dict.fromkeys(rights)))

    async def set_channel_admin(self, channel_id: int, bot_is_admin: bool) -> list[int]:
        t = self._tx.t
        if channel_id in t.channels:
            t.channels[channel_id] = replace(t.channels[channel_id], bot_is_admin=bot_is_admin)
        return sorted(chat_id for chat_id, linked in t.links if linked == channel_id)

    async def rename_channel(self, channel_id: int, title: str, username: str | None) -> None:
        t = self._tx.t
        if channel_id in t.channels:
            t.channels[channel_id] = replace(t.channels[channel_id], title=title, username=username)

    async def groups_for_channel(self, channel_id: int) -> list[ProtectedGroup]:
        t = self._tx.t
        chat_ids = sorted(chat_id for chat_id, linked in t.links if linked == channel_id)
        groups = [await self.get(chat_id) for chat_id in chat_ids if t.groups[chat_id].enabled]
        return [group for group in groups if group is not None]

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> bool:
        t = self._tx.t
        if old_chat_id == new_chat_id or old_chat_id not in t.groups:
            return False
        old = t.groups.pop(old_chat_id)
        new = t.groups.get(new_chat_id)
        if new is None:
            t.groups[new_chat_id] = replace(old, chat_id=new_chat_id)
        else:
            t.groups[new_chat_id] = replace(
                new,
                enabled=new.enabled or old.enabled,
                linked_chat_id=(
                    new.linked_chat_id if new.linked_chat_id is not None else old.linked_chat_id
                ),
            )
        _rekey(t.links, old_chat_id, new_chat_id)
        _rekey(t.owners, old_chat_id, new_chat_id)
        _rekey(t.exempt, old_chat_id, new_chat_id)
        _rekey(t.restrictions, old_chat_id, new_chat_id, lambda r: replace(r, chat_id=new_chat_id))
        t.audit[self._tx.store.next_id()] = AuditEntry(
            kind=AuditKind.MIGRATE,
            chat_id=new_chat_id,
            detail=f"migrated from {old_chat_id}",
            created_at=datetime.now(UTC),
        )
        return True

    async def counts(self) -> tuple[int, int, int]:
        t = self._tx.t
        enabled = sum(1 for group in t.groups.values() if group.enabled)
        return enabled, len(t.groups), len(t.links)

    def _update(self, chat_id: int, **changes: Any) -> bool:
        t = self._tx.t
        if chat_id not in t.groups:
            return False
        t.groups[chat_id] = replace(t.groups[chat_id], **changes)
        return True

    def _channels(self, chat_id: int) -> tuple[LinkedChannel, ...]:
        t = self._tx.t
        links = sorted(
            (link.linked_at, link.seq, channel_id)
            for (linked_chat, channel_id), link in t.links.items()
            if linked_chat == chat_id
        )
        return tuple(t.channels[channel_id] for _, _, channel_id in links)


def _rekey(
    table: dict[tuple[int, int], _V],
    old_chat_id: int,
    new_chat_id: int,
    fix: Callable[[_V], _V] = lambda value: value,
) -> None:
    for key in [key for key in table if key[0] == old_chat_id]:
        value = fix(table.pop(key))
        # On a collision the row the new id already has is kept.
        table.setdefault((new_chat_id, key[1]), value)


class InMemoryOwnerRepository(OwnerRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, chat_id: int, user_id: int, now: datetime) -> None:
        self._tx.t.owners.setdefault((chat_id, user_id), _utc(now))

    async def list(self, chat_id: int) -> builtins.list[int]:
        owners = sorted(
            (added_at, user_id)
            for (owner_chat, user_id), added_at in self._tx.t.owners.items()
            if owner_chat == chat_id
        )
        return [user_id for _, user_id in owners]


class InMemoryBotUserRepository(BotUserRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def mark_started(self, user_id: int, now: datetime) -> None:
        self._tx.t.users[user_id] = BotUser(started_at=_utc(now))

    async def mark_blocked(self, user_id: int) -> None:
        users = self._tx.t.users
        if user_id in users:
            users[user_id] = replace(users[user_id], blocked=True)

    async def reachable(self, user_ids: Sequence[int]) -> list[int]:
        users = self._tx.t.users
        return [
            user_id
            for user_id in dict.fromkeys(user_ids)
            if user_id in users and not users[user_id].blocked
        ]


class InMemoryExemptRepository(ExemptRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, chat_id: int, user_id: int, added_by: int | None, now: datetime) -> bool:
        exempt = self._tx.t.exempt
        if (chat_id, user_id) in exempt:
            return False
        exempt[chat_id, user_id] = Exemption(added_by, _utc(now))
        return True

    async def remove(self, chat_id: int, user_id: int) -> bool:
        return self._tx.t.exempt.pop((chat_id, user_id), None) is not None

    async def list(self, chat_id: int) -> builtins.list[int]:
        exempt = sorted(
            (row.added_at, user_id)
            for (exempt_chat, user_id), row in self._tx.t.exempt.items()
            if exempt_chat == chat_id
        )
        return [user_id for _, user_id in exempt]


class InMemoryManagerRepository(ManagerRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def saw(self, chat_id: int, user_ids: Sequence[int], now: datetime) -> None:
        for user_id in user_ids:
            self._tx.t.managers[chat_id, user_id] = _utc(now)

    async def groups_of(self, user_id: int, limit: int) -> list[int]:
        seen = [(at, chat) for (chat, user), at in self._tx.t.managers.items() if user == user_id]
        seen.sort(key=lambda pair: (pair[0], pair[1]), reverse=True)
        return [chat for _, chat in seen[:limit]]

    async def forget(self, chat_id: int, user_id: int) -> None:
        self._tx.t.managers.pop((chat_id, user_id), None)


class InMemoryRestrictionRepository(RestrictionRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, restriction: Restriction) -> None:
        self._tx.t.restrictions[restriction.chat_id, restriction.user_id] = _stored(restriction)

    async def intend(self, restriction: Restriction) -> Restriction:
        table = self._tx.t.restrictions
        key = restriction.chat_id, restriction.user_id
        now = table.get(key)
        new = _stored(restriction)
        if now is None:
            table[key] = new
        elif now.state is MuteState.INTENT:
            table[key] = replace(now, until=new.until, checked_at=new.checked_at)
        return table[key]

    async def discard(self, restriction: Restriction) -> bool:
        table = self._tx.t.restrictions
        key = restriction.chat_id, restriction.user_id
        now = table.get(key)
        if now is None or (now.state, now.created_at) != (
            restriction.state,
            _utc(restriction.created_at),
        ):
            return False
        del table[key]
        return True

    async def touch(self, chat_id: int, user_id: int, checked_at: datetime) -> bool:
        table = self._tx.t.restrictions
        if (chat_id, user_id) not in table:
            return False
        table[chat_id, user_id] = replace(table[chat_id, user_id], checked_at=_utc(checked_at))
        return True

    async def intents(self, before: datetime, limit: int) -> list[Restriction]:
        before = _utc(before)
        due = [
            r
            for r in self._tx.t.restrictions.values()
            if r.state is MuteState.INTENT and (r.checked_at is None or r.checked_at < before)
        ]
        return sorted(due, key=_least_checked_first)[:limit]

    async def least_checked(self, limit: int) -> list[Restriction]:
        active = [r for r in self._tx.t.restrictions.values() if r.state is MuteState.ACTIVE]
        return sorted(active, key=_least_checked_first)[:limit]

    async def get(self, chat_id: int, user_id: int) -> Restriction | None:
        return self._tx.t.restrictions.get((chat_id, user_id))

    async def remove(self, chat_id: int, user_id: int) -> bool:
        return self._tx.t.restrictions.pop((chat_id, user_id), None) is not None

    async def for_user(self, user_id: int) -> list[Restriction]:
        mine = [r for r in self._tx.t.restrictions.values() if r.user_id == user_id]
        return sorted(mine, key=lambda r: (r.created_at, r.chat_id))

    async def for_chat(self, chat_id: int, limit: int = 1000) -> list[Restriction]:
        mine = [r for r in self._tx.t.restrictions.values() if r.chat_id == chat_id]
        return sorted(mine, key=lambda r: (r.created_at, r.user_id))[:limit]

    async def count_active(self, now: datetime) -> int:
        now = _utc(now)
        return sum(1 for r in self._tx.t.restrictions.values() if r.until is None or r.until > now)


def _stored(restriction: Restriction) -> Restriction:
    until, checked = restriction.until, restriction.checked_at
    return replace(
        restriction,
        created_at=_utc(restriction.created_at),
        until=None if until is None else _utc(until),
        checked_at=None if checked is None else _utc(checked),
    )


def _least_checked_first(r: Restriction) -> tuple[bool, datetime, int, int]:
    # As the SQL adapter: never checked (NULL) first, then longest ago.
    never = r.checked_at is None
    return (not never, r.checked_at or r.created_at, r.chat_id, r.user_id)


class InMemoryAuditRepository(AuditRepository):
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def add(self, entry: AuditEntry) -> None:
        created_at = _utc(entry.created_at or datetime.now(UTC))
        self._tx.t.audit[self._tx.store.next_id()] = replace(entry, created_at=created_at)

    async def recent(self, chat_id: int, limit: int = 20) -> list[AuditEntry]:
        mine = [(seq, e) for seq, e in self._tx.t.audit.items() if e.chat_id == chat_id]
        # Newest first; the sequence breaks ties between entries of the same instant.
        mine.sort(key=lambda item: (item[1].created_at, item[0]), reverse=True)
        return [entry for _, entry in mine[: max(limit, 0)]]

    async def counts(self) -> dict[str, int]:
        return dict(Counter(entry.kind.value for entry in self._tx.t.audit.values()))

    async def count_since(self, chat_id: int, kind: AuditKind, since: datetime) -> int:
        since = _utc(since)
        return sum(
            1
            for e in self._tx.t.audit.values()
            if e.chat_id == chat_id
            and e.kind is kind
            and e.created_at is not None
            and e.created_at >= since
        )


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._tx = _Transaction(store)
        self.groups = InMemoryGroupRepository(self._tx)
        self.owners = InMemoryOwnerRepository(self._tx)
        self.users = InMemoryBotUserRepository(self._tx)
        self.exempt = InMemoryExemptRepository(self._tx)
        self.managers = InMemoryManagerRepository(self._tx)
        self.restrictions = InMemoryRestrictionRepository(self._tx)
        self.audit = InMemoryAuditRepository(self._tx)

    async def __aenter__(self) -> Self:
        if not self._store.available:
            raise ConnectionError("in-memory store marked unavailable")
        self._tx.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        self._tx.close()

    async def commit(self) -> None:
        _ = self._tx.t  # outside 'async with' this raises, as the SQL unit of work does
        self._tx.commit()

    async def rollback(self) -> None:
        _ = self._tx.t
        self._tx.begin()


class InMemoryUnitOfWorkFactory(UnitOfWorkFactory):
    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store if store is not None else InMemoryStore()

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    async def ping(self) -> None:
        if not self.store.available:
            raise ConnectionError("in-memory store marked unavailable")
