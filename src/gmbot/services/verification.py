"""Lift mutes once Telegram confirms membership: the button, or a channel join."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog

from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    ChannelMode,
    GateAction,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.ports import MembershipCache, Outbox, Throttle, UnitOfWorkFactory, WarningStore
from gmbot.domain.telegram import TelegramError, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services import texts
from gmbot.services.directory import GroupDirectory
from gmbot.services.membership import Membership, MembershipChecker
from gmbot.services.muting import MuteService

log = structlog.get_logger(__name__)


class ButtonOutcome(StrEnum):
    NOT_YOURS = "not_yours"
    NOT_PROTECTED = "not_protected"
    VERIFIED = "verified"
    STILL_MISSING = "still_missing"
    UNKNOWN = "unknown"  # Telegram could not tell; try again later


@dataclass(frozen=True, slots=True)
class ButtonResult:
    outcome: ButtonOutcome
    missing: tuple[LinkedChannel, ...] = ()
    # STILL_MISSING: ANY means joining one of `missing` is enough. A "not yet" is always
    # Telegram's answer to a look-up made after the press.
    mode: ChannelMode = ChannelMode.ALL


class VerificationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        directory: GroupDirectory,
        checker: MembershipChecker,
        cache: MembershipCache,
        muter: MuteService,
        outbox: Outbox,
        throttle: Throttle,
        metrics: Metrics,
        warnings: WarningStore,
        *,
        recheck_interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._checker = checker
        self._cache = cache
        self._muter = muter
        self._outbox = outbox
        self._throttle = throttle
        self._metrics = metrics
        self._warnings = warnings
        self._recheck = recheck_interval
        self._sleep = sleep
        # Scheduled, not yet started fresh look-ups by throttle key (see _fresh_look).
        self._pending: dict[str, asyncio.Future[Membership]] = {}

    async def joined_button(
        self, chat_id: int, presser_id: int, subject_id: int, prompt_id: int | None = None
    ) -> ButtonResult:
        """The "I've joined" button of prompt `prompt_id` for `subject_id` was pressed.

        The raid notice's button has no subject (texts.EVERYONE): it verifies whoever
        presses it, and the notice stays for the others.
        """
        shared = subject_id == texts.EVERYONE
        if shared:
            subject_id = presser_id
            prompt_id = None
        if presser_id != subject_id:
            return ButtonResult(ButtonOutcome.NOT_YOURS)
        group = await self._directory.group(chat_id)
        if group is None or not group.active:
            # Protection was removed meanwhile: lift our mute, nothing to verify.
            await self._muter.lift(chat_id, subject_id, "unprotected")
            return ButtonResult(ButtonOutcome.NOT_PROTECTED)
        membership = await self._fresh_look(chat_id, subject_id, group)
        if membership.satisfied(group.settings.mode):
            try:
                await self._verified(chat_id, subject_id, "button")
                if prompt_id is not None:
                    await self._muter.delete_prompt(chat_id, prompt_id)
            except TelegramError as err:
                # Verified, but the mute could not be lifted now: the user may retry.
                log.warning("unmute_failed", chat_id=chat_id, error=err.description)
                return ButtonResult(ButtonOutcome.UNKNOWN)
            return ButtonResult(ButtonOutcome.VERIFIED)
        self._metrics.membership_decided("button_missing")
        if membership.missing:
            missing = tuple(c for c in group.channels if c.channel_id in membership.missing)
            return ButtonResult(ButtonOutcome.STILL_MISSING, missing, group.settings.mode)
        return ButtonResult(ButtonOutcome.UNKNOWN)

    async def _fresh_look(self, chat_id: int, user_id: int, group: ProtectedGroup) -> Membership:
        """Membership as Telegram tells it after this press (only a cached "joined" is
        trusted without asking: a member who joined since must never read "not yet").

        Telegram is asked at most once per user per recheck interval. A press while the
        interval holds first tries the cache; if that does not verify, it waits out the
        rest of the interval (at most recheck_interval) and then asks. Presses of one
        member on this instance meanwhile share that one scheduled look-up: it starts
        after each of them, so its answer is fresh for all.
        """
        ids = [c.channel_id for c in group.channels]
        mode = group.settings.mode
        key = f"recheck:{chat_id}:{user_id}"
        if await self._throttle.acquire(key, self._recheck):
            return await self._checker.check(user_id, ids, fresh=True, mode=mode)
        # Only the cache's "joined" entries: a cached "not joined" may predate the join.
        cached = Membership(unknown=set(ids))
        for channel_id in ids:
            if await self._cache.get(user_id, channel_id) is True:
                cached.joined.add(channel_id)
                cached.unknown.discard(channel_id)
        if cached.satisfied(mode):
            return cached
        pending = self._pending.get(key)
        if pending is None:  # registered before any await, so presses find it
            pending = asyncio.ensure_future(self._look_after(key, user_id, ids, mode))
            self._pending[key] = pending
        # shield: one presser's cancelled update must not cancel the others' look-up.
        return await asyncio.shield(pending)

    async def _look_after(
        self, key: str, user_id: int, ids: list[int], mode: ChannelMode
    ) -> Membership:
        try:
            await self._sleep(min(await self._throttle.remaining(key), self._recheck))
        finally:
            # From here on the look-up has started: a later press schedules its own.
            self._pending.pop(key, None)
        # Taken so other instances' presses wait for this one; asked either way, as
        # the press was made after whichever look-up holds it now.
        await self._throttle.acquire(key, self._recheck)
        return await self._checker.check(user_id, ids, fresh=True, mode=mode)

    async def restriction_lifted(self, chat_id: int, user_id: int) -> None:
        await self._muter.released(chat_id, user_id)

    async def channel_left(self, channel_id: int, user_id: int) -> None:
        await self._cache.drop(user_id, channel_id)

    async def channel_joined(self, channel_id: int, user_id: int) -> list[int]:
        """Lift GMBot's mutes for the user in groups they now fully satisfy.

        Returns the chat ids where the user was unmuted.
        """
        await self._cache.drop(user_id, channel_id)
        await self._cache.put(user_id, channel_id, True)
        async with self._uow() as uow:
            mutes = {r.chat_id: r for r in await uow.restrictions.for_user(user_id)}
            linked = await uow.groups.groups_for_channel(channel_id)
        # Warned in a group, not muted: the join may verify them there too.
        unmuted_groups = [g for g in linked if g.chat_id not in mutes]
        await self._warned_joined(channel_id, user_id, unmuted_groups)
        muted_in = set(mutes)
        if not muted_in:
            return []
        unmuted = []
        for chat_id in sorted(muted_in):
            group = await self._directory.group(chat_id)
            if group is None or group.channel(channel_id) is None:
                continue
            ids = [c.channel_id for c in group.channels]
            mode = group.settings.mode
            membership = await self._checker.check(user_id, ids, mode=mode)
            if membership.satisfied(mode):
                how = f"joined {channel_id}"
                try:
                    await self._verified(chat_id, user_id, how)
                    unmuted.append(chat_id)
                except TelegramUnavailable as err:
                    # Telegram could not be reached: the workers lift it once it can.
                    log.warning("auto_unmute_deferred", chat_id=chat_id, error=err.description)
                    muted_at = mutes[chat_id].created_at.timestamp()
                    await self._outbox.record([plan.unmute(chat_id, user_id, muted_at, how)])
                except TelegramError as err:
                    log.warning("auto_unmute_failed", chat_id=chat_id, error=err.description)
        return unmuted

    async def _warned_joined(
        self, channel_id: int, user_id: int, groups: list[ProtectedGroup]
    ) -> None:
        """Warned, not muted, in these groups: once the join satisfies a group they are
        verified there, its warnings forgotten and their prompt removed."""
        for group in groups:
            if group.settings.action is not GateAction.WARN or not group.active:
                continue
            if not await self._warnings.count(group.chat_id, user_id):
                continue
            ids = [c.channel_id for c in group.channels]
            mode = group.settings.mode
            if (await self._checker.check(user_id, ids, mode=mode)).satisfied(mode):
                try:
                    await self._verified(group.chat_id, user_id, f"joined {channel_id}")
                except TelegramError as err:  # nothing to lift: only a prompt to remove
                    log.warning("warned_verify_failed", chat_id=group.chat_id, error=str(err))

    async def _verified(self, chat_id: int, user_id: int, how: str) -> None:
        self._metrics.membership_decided("verified")
        async with self._uow() as uow:
            await uow.audit.add(AuditEntry(AuditKind.VERIFY, chat_id, user_id, detail=how))
            await uow.commit()
        # Verified: earlier warnings are forgotten (a later offence starts at 1 again),
        # even if the mute cannot be lifted right now.
        await self._warnings.reset(chat_id, user_id)
        lifted = await self._muter.lift(chat_id, user_id, how)
        if not lifted:
            await self._muter.clear_prompt(chat_id, user_id)
