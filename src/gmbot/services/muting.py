"""Apply and lift GMBot's own mutes; never touch a restriction an admin set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from gmbot.domain.models import AuditEntry, AuditKind, MuteState, ProtectedGroup, Restriction
from gmbot.domain.ports import Outbox, PromptStore, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import MUTED, NotEnoughRights, TelegramError, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.services.gate_plan import mute_key

log = structlog.get_logger(__name__)

# Telegram treats restrictions shorter than 30 s (or longer than 366 days) as forever.
MIN_MUTE = 30
RESTRICT_RIGHT = "can_restrict_members"


class MuteOutcome(StrEnum):
    MUTED = "muted"
    REFUSED = "refused"  # the bot lacks the right


class MuteService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telegram: TelegramGateway,
        prompts: PromptStore,
        outbox: Outbox,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._telegram = telegram
        self._prompts = prompts
        self._outbox = outbox
        self._metrics = metrics
        self._clock = clock

    async def mute(self, group: ProtectedGroup, user_id: int) -> MuteOutcome:
        """Restrict a member who was just gated, GMBot's record of it written first.

        The intent is committed before restrictChatMember is called, so however the
        call ends (a timeout, a crash, the database gone right after) a restriction
        GMBot applied is never taken for someone else's. Telegram is not asked first
        whether someone else restricted the member: they have just posted, so nobody
        had taken that right away. The outbox's key makes it one mute per member until
        GMBot lifts it; a record already active makes it one even when the key is lost.
        """
        now = self._clock()
        until = self.until_for(group, now)
        async with self._uow() as uow:
            record = await uow.restrictions.intend(
                Restriction(group.chat_id, user_id, now, until, MuteState.INTENT, checked_at=now)
            )
            await uow.commit()
        if not record.is_intent:
            log.info("mute_already_active", chat_id=group.chat_id, user_id=user_id)
            return MuteOutcome.MUTED
        if record.created_at < now and await self._applied_meanwhile(group.chat_id, user_id):
            # Our own earlier attempt timed out and Telegram carried it out after all:
            # restricting again would be a second mute. Recorded as done instead.
            await self.confirm(record, AuditKind.MUTE, f"until={record.until} (after a timeout)")
            self._metrics.user_muted()
            log.info("user_muted", chat_id=group.chat_id, user_id=user_id, late=True)
            return MuteOutcome.MUTED
        # A new intent, or our own unfinished one Telegram does not show.
        try:
            await self._telegram.restrict(group.chat_id, user_id, MUTED, until)
        except TelegramUnavailable:
            raise  # it may have been applied: the intent stays, and the retry finishes it
        except TelegramError as err:
            # Refused for good: no mute happened, so no record of one is kept.
            async with self._uow() as uow:
                await uow.restrictions.discard(record)
                await uow.commit()
            if not isinstance(err, NotEnoughRights):
                raise
            log.warning(
                "mute_refused", chat_id=group.chat_id, user_id=user_id, error=err.description
            )
            # Once the right is back, this member's next offence must mute, so the
            # mute's key is not kept as carried out.
            await self._forget_mutes(group.chat_id, [user_id])
            return MuteOutcome.REFUSED
        await self.confirm(record, AuditKind.MUTE, f"until={until}")
        self._metrics.user_muted()
        log.info("user_muted", chat_id=group.chat_id, user_id=user_id)
        return MuteOutcome.MUTED

    async def _applied_meanwhile(self, chat_id: int, user_id: int) -> bool:
        """Whether an earlier attempt's restriction is in force (a look before acting
        again; a failed look means acting, which is at worst the same mute twice)."""
        try:
            return (await self._telegram.get_member(chat_id, user_id)).is_muted
        except TelegramUnavailable:
            raise  # retried later, looking again
        except TelegramError:
            return False

    def until_for(self, group: ProtectedGroup, now: datetime) -> datetime | None:
        """When a mute applied now ends (None: until verified)."""
        if not group.settings.mute_seconds:
            return None
        return now + timedelta(seconds=max(MIN_MUTE, group.settings.mute_seconds))

    async def confirm(self, record: Restriction, kind: AuditKind, detail: str) -> None:
        """Telegram holds the restriction: the record becomes active.

        Written whether or not the intent is still there: a lift that removed it
        meanwhile may have reached Telegram before this restriction did, and a record
        of a restriction that is gone is repaired later, an unrecorded one never.
        """
        active = replace(record, state=MuteState.ACTIVE, checked_at=self._clock())
        async with self._uow() as uow:
            await uow.restrictions.add(active)
            await uow.audit.add(AuditEntry(kind, record.chat_id, record.user_id, detail=detail))
            await uow.commit()

    async def complete(self, group: ProtectedGroup, record: Restriction) -> None:
        """Apply an intent Telegram does not hold (the reconciler's repair), then
        record it active. Raises the gateway's errors; the record is left as it was."""
        until = self.until_for(group, self._clock())
        await self._telegram.restrict(record.chat_id, record.user_id, MUTED, until)
        await self.confirm(
            replace(record, until=until), AuditKind.MUTE_REPAIRED, "intent completed"
        )
        self._metrics.user_muted()
        log.info("mute_completed", chat_id=record.chat_id, user_id=record.user_id)

    async def drop(self, record: Restriction, detail: str) -> bool:
        """Forget a record Telegram holds no restriction for (the reconciler's repair):
        as released(), if the record is still the one read. Calls nothing."""
        async with self._uow() as uow:
            removed = await uow.restrictions.discard(record)
            if removed:
                await uow.audit.add(
                    AuditEntry(
                        AuditKind.MUTE_REPAIRED, record.chat_id, record.user_id, detail=detail
                    )
                )
            await uow.commit()
        if removed:
            await self._forget_mutes(record.chat_id, [record.user_id])
            log.info(
                "mute_record_dropped",
                chat_id=record.chat_id,
                user_id=record.user_id,
                state=record.state,
                detail=detail,
            )
        return removed

    async def lift(self, chat_id: int, user_id: int, reason: str) -> bool:
        """Lift GMBot's mute, restoring the group's default permissions.

        An intent is GMBot's own too: whether Telegram applied it cannot be told, so
        the defaults are restored. Returns False when GMBot had not muted the user
        (nothing is done then).
        """
        async with self._uow() as uow:
            own = await uow.restrictions.get(chat_id, user_id)
        if own is None:
            return False
        if own.in_force(self._clock()):
            chat = await self._telegram.get_chat(chat_id)
            # Restoring the defaults (not granting everything) keeps what the group allows.
            await self._telegram.restrict(chat_id, user_id, chat.permissions or {}, None)
        async with self._uow() as uow:
            await uow.restrictions.remove(chat_id, user_id)
            await uow.audit.add(AuditEntry(AuditKind.UNMUTE, chat_id, user_id, detail=reason))
            await uow.commit()
        await self._forget_mutes(chat_id, [user_id])
        self._metrics.users_unmuted()
        log.info("user_unmuted", chat_id=chat_id, user_id=user_id, reason=reason)
        await self.clear_prompt(chat_id, user_id)
        return True

    async def released(self, chat_id: int, user_id: int) -> bool:
        """The member is no longer restricted, by someone else's doing (an admin, or
        the mute ran out): drop GMBot's record of the mute, if any, calling nothing."""
        async with self._uow() as uow:
            removed = await uow.restrictions.remove(chat_id, user_id)
            if removed:
                await uow.audit.add(
                    AuditEntry(AuditKind.UNMUTE, chat_id, user_id, detail="lifted in Telegram")
                )
            await uow.commit()
        await self._forget_mutes(chat_id, [user_id])
        if removed:
            log.info("mute_released", chat_id=chat_id, user_id=user_id)
        return removed

    async def lift_all(self, chat_id: int, reason: str, limit: int = 500) -> int:
        """Lift every mute GMBot holds in a group (protection was switched off)."""
        async with self._uow() as uow:
            own = await uow.restrictions.for_chat(chat_id, limit)
        if not own:
            return 0
        chat = await self._telegram.get_chat(chat_id)
        now = self._clock()
        lifted = 0
        for r in own:
            try:
                if r.in_force(now):
                    await self._telegram.restrict(chat_id, r.user_id, chat.permissions or {}, None)
            except TelegramError as err:
                log.warning(
                    "unmute_failed", chat_id=chat_id, user_id=r.user_id, error=err.description
                )
                continue
            async with self._uow() as uow:
                await uow.restrictions.remove(chat_id, r.user_id)
                await uow.audit.add(AuditEntry(AuditKind.UNMUTE, chat_id, r.user_id, detail=reason))
                await uow.commit()
            await self._forget_mutes(chat_id, [r.user_id])
            await self.clear_prompt(chat_id, r.user_id)
            lifted += 1
        self._metrics.users_unmuted(lifted)
        log.info("mutes_lifted", chat_id=chat_id, count=lifted, reason=reason)
        return lifted

    async def _forget_mutes(self, chat_id: int, user_ids: list[int]) -> None:
        """A later offence must mute again: the mute's outbox key is released."""
        try:
            await self._outbox.forget([mute_key(chat_id, u) for u in user_ids])
        except Exception as exc:  # the key expires by itself; the lift stands
            log.warning("mute_key_forget_failed", chat_id=chat_id, error=str(exc))

    async def clear_prompt(self, chat_id: int, user_id: int) -> None:
        message_id = await self._prompts.clear(chat_id, user_id)
        if message_id is not None:
            await self.delete_prompt(chat_id, message_id)

    async def delete_prompt(self, chat_id: int, message_id: int) -> None:
        try:
            await self._telegram.delete_message(chat_id, message_id)
        except TelegramError as err:
            log.info("prompt_delete_failed", chat_id=chat_id, error=err.description)
