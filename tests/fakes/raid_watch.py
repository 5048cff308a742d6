"""In-memory RaidWatch, with the Redis adapter's semantics
(tests/unit/cache/test_raid_watch_contract.py runs the same checks against both).

Times passed in (`now`) are the callers'; the methods without one read `clock`, as
the adapter reads the Redis server's TIME.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gmbot.domain.ports import EndedRaid, RaidPhase, RaidSignal, RaidWatch

SWEEP_LIMIT = 100
STALE_SCAN = 1000


@dataclass
class _Raid:
    started_at: float
    last: float
    members: set[int]
    notice: int | None = None
    shown: int = 0
    edit_at: float = 0.0
    posting_until: float | None = None  # an instance holds the notice claim until then

    @property
    def n(self) -> int:
        return len(self.members)


class InMemoryRaidWatch(RaidWatch):
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: dict[int, dict[int, float]] = {}  # chat -> member -> last gated
        self._raids: dict[int, _Raid] = {}
        self._prompts: dict[int, dict[str, float]] = {}  # chat -> "user:msg"|"p:user" -> expiry

    async def gated(
        self,
        chat_id: int,
        user_id: int,
        now: float,
        *,
        threshold: int,
        window: float,
        edit_every: float,
    ) -> RaidSignal:
        raid = self._raids.get(chat_id)
        if raid is None:
            seen = self._seen.setdefault(chat_id, {})
            seen[user_id] = max(now, seen.get(user_id, now))
            for member, at in list(seen.items()):
                if at < now - window:
                    del seen[member]
            count = len(seen)
            if threshold <= 0 or count < threshold:
                return RaidSignal(RaidPhase.CALM, count)
            self._raids[chat_id] = _Raid(started_at=now, last=now, members=set(seen))
            del self._seen[chat_id]
            return RaidSignal(RaidPhase.STARTED, count)
        raid.members.add(user_id)
        raid.last = max(raid.last, now)
        due = raid.notice is not None and raid.n != raid.shown and now - raid.edit_at >= edit_every
        if due:
            raid.edit_at = now
        return RaidSignal(RaidPhase.ONGOING, raid.n, raid.notice, due)

    def _live_prompts(self, chat_id: int) -> dict[str, float]:
        now = self._clock()
        prompts = self._prompts.setdefault(chat_id, {})
        for prompt, expires in list(prompts.items()):
            if expires <= now:
                del prompts[prompt]
        return prompts

    async def prompt_reserve(self, chat_id: int, user_id: int, ttl: float) -> bool:
        if chat_id in self._raids:
            return False
        self._live_prompts(chat_id)[f"p:{user_id}"] = self._clock() + min(ttl, 30.0)
        return True

    async def prompt_shown(self, chat_id: int, user_id: int, message_id: int, ttl: float) -> bool:
        prompts = self._live_prompts(chat_id)
        prompts.pop(f"p:{user_id}", None)
        if chat_id in self._raids:
            return False
        prompts[f"{user_id}:{message_id}"] = self._clock() + ttl
        return True

    async def prompt_dropped(self, chat_id: int, user_id: int) -> None:
        self._live_prompts(chat_id).pop(f"p:{user_id}", None)

    async def take_prompts(self, chat_id: int) -> tuple[list[tuple[int, int]], int]:
        prompts = self._live_prompts(chat_id)
        shown: list[tuple[int, int]] = []
        pending = 0
        for member in sorted(prompts):
            if member.startswith("p:"):
                pending += 1
                continue
            del prompts[member]
            user, _, message = member.partition(":")
            shown.append((int(user), int(message)))
        return shown, pending

    async def claim_notice(self, chat_id: int, hold: float) -> bool:
        raid = self._raids.get(chat_id)
        if raid is None or raid.notice is not None:
            return False
        now = self._clock()
        if raid.posting_until is not None and raid.posting_until > now:
            return False
        raid.posting_until = now + hold
        return True

    async def release_notice(self, chat_id: int) -> None:
        raid = self._raids.get(chat_id)
        if raid is not None:
            raid.posting_until = None

    async def notice_posted(self, chat_id: int, message_id: int, shown: int) -> bool:
        raid = self._raids.get(chat_id)
        if raid is None:
            return False
        if raid.notice is not None:
            return raid.notice == message_id  # another notice is recorded: remove this one
        raid.notice, raid.shown, raid.edit_at = message_id, shown, self._clock()
        raid.posting_until = None
        return True

    async def notice_shown(self, chat_id: int, shown: int) -> None:
        raid = self._raids.get(chat_id)
        if raid is not None:
            raid.shown = shown

    async def active(self, chat_id: int) -> RaidSignal | None:
        raid = self._raids.get(chat_id)
        if raid is None:
            return None
        return RaidSignal(RaidPhase.ONGOING, raid.n, raid.notice)

    async def stale_notices(self, now: float, edit_every: float) -> list[tuple[int, int, int]]:
        # As ZREVRANGE over chat -> last gated: most recent first, ties by name.
        recent = sorted(self._raids.items(), key=lambda i: (i[1].last, str(i[0])), reverse=True)
        stale: list[tuple[int, int, int]] = []
        for chat_id, raid in recent[:STALE_SCAN]:
            if raid.notice is None or raid.n == raid.shown or now - raid.edit_at < edit_every:
                continue
            raid.edit_at = now
            stale.append((chat_id, raid.notice, raid.n))
            if len(stale) >= SWEEP_LIMIT:
                break
        return stale

    async def without_notice(self) -> list[tuple[int, int]]:
        recent = sorted(self._raids.items(), key=lambda i: (i[1].last, str(i[0])), reverse=True)
        return [(chat_id, raid.n) for chat_id, raid in recent[:STALE_SCAN] if raid.notice is None]

    async def end_calm(self, now: float, calm: float) -> list[EndedRaid]:
        calm_raids = sorted(
            ((raid.last, str(chat_id), chat_id) for chat_id, raid in self._raids.items()),
        )
        ended: list[EndedRaid] = []
        for last, _, chat_id in calm_raids[:SWEEP_LIMIT]:
            if last > now - calm:
                break
            raid = self._raids.pop(chat_id)
            self._prompts.pop(chat_id, None)
            self._seen.pop(chat_id, None)
            ended.append(EndedRaid(chat_id, raid.started_at, raid.n, raid.notice))
        return ended
