"""Repairs GMBot's mute records where they and Telegram disagree, in the background.

A mute's record is written before Telegram is asked (an intent), and made active
once Telegram confirmed it. Two mismatches are left behind by failures: an intent
whose outcome never came back (a timeout, a crash, the database gone just after),
and an active record of a restriction someone lifted without GMBot hearing of it.
Each sweep looks at the intents nobody has worked on for a while and at the active
records checked longest ago, asks Telegram (at the lowest priority) and repairs.

One sweep at a time across the fleet: the instance that takes the job lock sweeps,
and keeps the lock until it lapses, so the fleet sweeps once per interval whatever
its size.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from gmbot.domain.actions import Priority, acting_as
from gmbot.domain.models import AuditKind, Restriction
from gmbot.domain.ports import (
    CacheUnavailable,
    JobLock,
    TelegramGateway,
    UnitOfWorkFactory,
)
from gmbot.domain.telegram import (
    ChatNotFound,
    MemberInfo,
    MemberStatus,
    RetryLater,
    TelegramError,
    TelegramUnavailable,
)
from gmbot.metrics import Metrics, ReconcileOutcome
from gmbot.services.directory import GroupDirectory
from gmbot.services.muting import MuteService

log = structlog.get_logger(__name__)

LOCK = "mute-reconciler"
# Telegram failing this many calls in a row ends the sweep: the next one tries again.
MAX_FAILURES = 3
# A sweep starts no new record once this share of its lock's time is gone, so it
# never outlives the lock (another instance could then sweep the same records).
BUDGET = 0.8

_TRANSIENT = (TelegramUnavailable, RetryLater, TimeoutError, ConnectionError)
_GONE = (MemberStatus.LEFT, MemberStatus.KICKED)

Report = Counter[ReconcileOutcome]


class _Transient(Exception):
    """Telegram could not answer now: the record is looked at again later."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.stop = isinstance(exc, RetryLater)  # asked to wait: no more calls this sweep


class MuteReconciler:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telegram: TelegramGateway,
        directory: GroupDirectory,
        muter: MuteService,
        lock: JobLock,
        metrics: Metrics,
        clock: Callable[[], datetime],
        *,
        interval: float,
        after: float,
        batch: int,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._telegram = telegram
        self._directory = directory
        self._muter = muter
        self._lock = lock
        self._metrics = metrics
        self._clock = clock
        self._wall = wall
        self._interval = interval
        self._after = timedelta(seconds=after)
        self._batch = batch

    async def sweep(self) -> Report | None:
        """One sweep, if this instance takes the lock; None when it did not (another
        instance holds it, or Redis cannot be reached: no sweep then)."""
        try:
            token = await self._lock.hold(LOCK, self._interval)
        except CacheUnavailable as exc:
            log.warning("mute_reconcile_skipped", error=str(exc))
            return None
        if token is None:
            return None
        try:
            report = await self._sweep()
        except Exception:
            # Let another instance try at its next tick rather than after the interval.
            with contextlib.suppress(CacheUnavailable):  # else it lapses by itself
                await self._lock.release(LOCK, token)
            raise
        if report:
            log.info("mutes_reconciled", outcomes=dict(report))
        return report

    async def _sweep(self) -> Report:
        report: Report = Counter()
        deadline = self._wall() + self._interval * BUDGET
        failures = 0
        async with self._uow() as uow:
            intents = await uow.restrictions.intents(self._clock() - self._after, self._batch)
        async with self._uow() as uow:
            active = await uow.restrictions.least_checked(self._batch)
        for record in [*intents, *active]:
            if self._wall() > deadline:
                break
            try:
                outcome = await (self._intent(record) if record.is_intent else self._active(record))
            except _Transient as exc:
                log.info(
                    "mute_reconcile_deferred",
                    chat_id=record.chat_id,
                    user_id=record.user_id,
                    error=str(exc),
                )
                report["skipped"] += 1
                self._metrics.mute_reconciled("skipped")
                failures += 1
                if exc.stop or failures >= MAX_FAILURES:
                    break
                continue
            failures = 0
            report[outcome] += 1
            self._metrics.mute_reconciled(outcome)
        return report

    async def _intent(self, record: Restriction) -> ReconcileOutcome:
        """An intent left unfinished: Telegram tells whether the restriction applied."""
        member = await self._member(record)
        if member is None:
            return "skipped"
        if isinstance(member, str):
            return await self._drop(record, member)
        # The mute's own retry may have finished it meanwhile, or a lift removed it:
        # then there is nothing left to repair (drops check this themselves).
        async with self._uow() as uow:
            current = await uow.restrictions.get(record.chat_id, record.user_id)
        if current is None or (current.state, current.created_at) != (
            record.state,
            record.created_at,
        ):
            return "skipped"
        if member.is_muted:
            await self._muter.confirm(current, AuditKind.MUTE_REPAIRED, "intent confirmed")
            return "confirmed"
        if member.is_admin:
            return await self._drop(record, "member is an admin")
        if member.status in _GONE:
            return await self._drop(record, f"member {member.status}")
        group = await self._directory.group(record.chat_id)
        if group is None or not group.active:
            return await self._drop(record, "group not protected")
        try:
            with acting_as(Priority.LOG):
                await self._muter.complete(group, current)
        except _TRANSIENT as exc:
            raise _Transient(exc) from exc
        except TelegramError as err:
            return await self._drop(record, f"refused: {err.description}")
        return "completed"

    async def _active(self, record: Restriction) -> ReconcileOutcome:
        """An active record: still a restriction in Telegram, or forgotten."""
        if not record.in_force(self._clock()):
            await self._muter.drop(record, "mute ran out")
            return "released"
        member = await self._member(record)
        if member is None:
            return "skipped"
        if isinstance(member, str):
            await self._muter.drop(record, member)
            return "released"
        if member.is_muted:
            await self._touch(record)
            return "checked"
        await self._muter.drop(record, "no restriction in Telegram")
        return "released"

    async def _member(self, record: Restriction) -> MemberInfo | str | None:
        """Telegram's view of the member; a reason to drop the record when the chat or
        the user is gone; None when Telegram refused to tell (looked at again later)."""
        try:
            with acting_as(Priority.LOG):
                return await self._telegram.get_member(record.chat_id, record.user_id)
        except _TRANSIENT as exc:
            raise _Transient(exc) from exc
        except ChatNotFound:
            return "chat or user gone"
        except TelegramError as err:
            # The bot was removed, or may not look: the record is kept (it is still
            # GMBot's mute if the bot comes back) and looked at again in a while.
            log.warning(
                "mute_reconcile_refused",
                chat_id=record.chat_id,
                user_id=record.user_id,
                error=err.description,
            )
            await self._touch(record)
            return None

    async def _drop(self, record: Restriction, detail: str) -> ReconcileOutcome:
        await self._muter.drop(record, detail)
        return "dropped"

    async def _touch(self, record: Restriction) -> None:
        async with self._uow() as uow:
            await uow.restrictions.touch(record.chat_id, record.user_id, self._clock())
            await uow.commit()
