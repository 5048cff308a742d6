"""In-memory GateCache, with the Redis adapter's semantics
(tests/unit/services/test_fakes_contract.py runs the same checks against both)."""

from __future__ import annotations

from collections.abc import Sequence

from gmbot.domain.models import ChannelMode, ProtectedGroup
from gmbot.domain.ports import CacheUnavailable, GateCache, GateLookup, GateState
from tests.fakes.clock import Expiring, FakeClock
from tests.fakes.membership_cache import InMemoryMembershipCache


class InMemoryGateCache(GateCache):
    """Group configuration, exempt and admin sets; lookup() reads the verify entries
    of the shared InMemoryMembershipCache, exactly like the Redis script does."""

    def __init__(self, membership: InMemoryMembershipCache, clock: FakeClock) -> None:
        self._membership = membership
        self._clock = clock
        self._groups: dict[int, Expiring] = {}  # value: ProtectedGroup | None
        self._exempt: dict[int, Expiring] = {}  # value: frozenset[int]
        self._admins: dict[int, Expiring] = {}  # value: frozenset[int]
        self.lookups = 0
        self.get_groups = 0
        self.put_groups = 0
        self.dropped_groups: list[int] = []
        self.dropped_admins: list[int] = []
        # True makes lookup() raise CacheUnavailable, as Redis being down would.
        self.unavailable = False

    def _live(self, table: dict[int, Expiring], chat_id: int) -> Expiring | None:
        entry = table.get(chat_id)
        if entry is not None and entry.expires <= self._clock():
            del table[chat_id]
            return None
        return entry

    async def lookup(self, chat_id: int, user_id: int) -> GateLookup:
        self.lookups += 1
        if self.unavailable:
            raise CacheUnavailable("in-memory gate cache marked unavailable")
        conf = self._live(self._groups, chat_id)
        if conf is None:
            return GateLookup(GateState.GROUP_UNKNOWN)
        group: ProtectedGroup | None = conf.value
        if group is None or not group.active:
            return GateLookup(GateState.UNPROTECTED)
        admins = self._live(self._admins, chat_id)
        if admins is None:
            return GateLookup(GateState.ADMINS_UNKNOWN)
        if user_id in admins.value:
            return GateLookup(GateState.ADMIN)
        exempt = self._live(self._exempt, chat_id)
        if exempt is not None and user_id in exempt.value:
            return GateLookup(GateState.EXEMPT)
        any_ = group.settings.mode is ChannelMode.ANY
        unknown: list[int] = []
        missing: list[int] = []
        for channel in group.channels:
            joined = self._membership.peek(user_id, channel.channel_id)
            if joined and any_:
                return GateLookup(GateState.VERIFIED)
            if joined is None:
                unknown.append(channel.channel_id)
            elif not joined:
                missing.append(channel.channel_id)
        if not unknown and not missing:
            return GateLookup(GateState.VERIFIED)
        return GateLookup(GateState.CHECK, unknown=tuple(unknown), missing=tuple(missing))

    async def get_group(self, chat_id: int) -> tuple[bool, ProtectedGroup | None]:
        self.get_groups += 1
        conf = self._live(self._groups, chat_id)
        if conf is None:
            return False, None
        return True, conf.value

    async def put_group(
        self, chat_id: int, group: ProtectedGroup | None, exempt: Sequence[int], ttl: int
    ) -> None:
        self.put_groups += 1
        expires = self._clock() + ttl
        self._groups[chat_id] = Expiring(group, expires)
        self._exempt.pop(chat_id, None)
        if exempt:
            self._exempt[chat_id] = Expiring(frozenset(exempt), expires)

    async def drop_group(self, chat_id: int) -> None:
        self.dropped_groups.append(chat_id)
        self._groups.pop(chat_id, None)
        self._exempt.pop(chat_id, None)

    async def put_admins(self, chat_id: int, user_ids: Sequence[int], ttl: int) -> None:
        self._admins[chat_id] = Expiring(frozenset(user_ids), self._clock() + ttl)

    async def drop_admins(self, chat_id: int) -> None:
        self.dropped_admins.append(chat_id)
        self._admins.pop(chat_id, None)

    # ---- inspection
    def has_group(self, chat_id: int) -> bool:
        return self._live(self._groups, chat_id) is not None

    def has_admins(self, chat_id: int) -> bool:
        return self._live(self._admins, chat_id) is not None
