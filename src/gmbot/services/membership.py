"""Is a user in a channel? Cache first, one Bot API call per miss across instances."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from gmbot.domain.models import ChannelMode
from gmbot.domain.ports import MembershipCache, TelegramGateway, Throttle
from gmbot.domain.telegram import MemberListInaccessible, TelegramError
from gmbot.metrics import Metrics

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Membership:
    joined: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    # Channels where Telegram refused to answer because the bot is not an admin there.
    inaccessible: set[int] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unknown

    def satisfied(self, mode: ChannelMode) -> bool:
        """Does the user meet the group's requirement: every channel (ALL) or one (ANY)?"""
        return bool(self.joined) if mode is ChannelMode.ANY else self.complete


class MembershipChecker:
    def __init__(
        self,
        telegram: TelegramGateway,
        cache: MembershipCache,
        locks: Throttle,
        metrics: Metrics,
        *,
        lock_seconds: float = 5.0,
        wait_seconds: float = 3.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._telegram = telegram
        self._cache = cache
        self._locks = locks
        self._metrics = metrics
        self._lock_seconds = lock_seconds
        self._wait_seconds = wait_seconds
        self._poll = poll_interval

    async def check(
        self,
        user_id: int,
        channels: Iterable[int],
        *,
        fresh: bool = False,
        known_missing: Iterable[int] = (),
        mode: ChannelMode = ChannelMode.ALL,
    ) -> Membership:
        """Classify each channel. `fresh` bypasses the cache (the "I've joined" button).

        In ANY mode the channels are asked one by one and the check stops at the first
        joined one (fewer Bot API calls); the channels not reached stay unclassified.
        """
        result = Membership(missing=set(known_missing))
        todo = [c for c in channels if c not in result.missing]
        if mode is ChannelMode.ANY:
            answers: list[bool | str] = []
            for channel_id in todo:
                answers.append(await self._one(user_id, channel_id, fresh))
                if answers[-1] is True:
                    break
            todo = todo[: len(answers)]
        else:
            answers = list(await asyncio.gather(*(self._one(user_id, c, fresh) for c in todo)))
        for channel_id, answer in zip(todo, answers, strict=True):
            if answer is True:
                result.joined.add(channel_id)
            elif answer is False:
                result.missing.add(channel_id)
            else:
                result.unknown.add(channel_id)
                if answer == "inaccessible":
                    result.inaccessible.add(channel_id)
        return result

    async def _one(self, user_id: int, channel_id: int, fresh: bool) -> bool | str:
        if not fresh:
            cached = await self._cache.get(user_id, channel_id)
            self._metrics.cache_looked_up("verify", cached is not None)
            if cached is not None:
                return cached
        # Many instances may miss at once for the same pair: one asks Telegram,
        # the others wait for its answer to appear in the cache.
        key = f"lookup:{user_id}:{channel_id}"
        if fresh or await self._locks.acquire(key, self._lock_seconds):
            try:
                return await self._ask(user_id, channel_id)
            finally:
                if not fresh:
                    await self._locks.release(key)
        waited = 0.0
        while waited < self._wait_seconds:
            await asyncio.sleep(self._poll)
            waited += self._poll
            cached = await self._cache.get(user_id, channel_id)
            if cached is not None:
                return cached
        return await self._ask(user_id, channel_id)

    async def _ask(self, user_id: int, channel_id: int) -> bool | str:
        try:
            member = await self._telegram.get_member(channel_id, user_id)
        except MemberListInaccessible:
            log.warning("channel_membership_inaccessible", channel_id=channel_id)
            return "inaccessible"
        except TelegramError as err:
            log.warning("membership_unknown", channel_id=channel_id, error=err.description)
            return "unknown"
        joined = member.is_subscribed
        await self._cache.put(user_id, channel_id, joined)
        return joined
