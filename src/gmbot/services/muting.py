"""Apply and lift GMBot's own mutes; never touch a restriction an admin set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from gmbot.domain.models import AuditEntry, AuditKind, ProtectedGroup, Restriction
from gmbot.domain.ports import Outbox, PromptStore, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import MUTED, NotEnoughRights, TelegramError
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
        """Restrict a member who was just gated, and record that GMBot did it.

        Telegram is not asked first whether someone else restricted the member: they
        have just posted, so nobody had taken that right away. The outbox's key makes
        it one mute per member until GMBot lifts it, however many messages they sent.
        """
        now = self._clock()
        until = None
        if group.settings.mute_seconds:
            until = now + timedelta(seconds=max(MIN_MUTE, group.settings.mute_seconds))
        try:
            await self._telegram.restrict(group.chat_id, user_id, MUTED, until)
        except NotEnoughRights as err:
            log.warning(
                "mute_refused", chat_id=group.chat_id, user_id=user_id, error=err.description
            )
            # No mute happened: once the right is back, this member's next offence
            # must mute, so the mute's key is not kept as carried out.
            await self._forget_mutes(group.chat_id, [user_id])
            return MuteOutcome.REFUSED
        async with self._uow() as uow:
            await uow.restrictions.add(Restriction(group.chat_id, user_id, now, until))
            await uow.audit.add(
                AuditEntry(AuditKind.MUTE, group.chat_id, user_id, detail=f"until={until}")
            )
            await uow.commit()
        self._metrics.user_muted()
        log.info("user_muted", chat_id=group.chat_id, user_id=user_id)
        return MuteOutcome.MUTED

    async def lift(self, chat_id: int, user_id: int, reason: str) -> bool:
        """Lift GMBot's mute, restoring the group's default permissions.

        Returns False when GMBot had not muted the user (nothing is done then).
        """
        async with self._uow() as uow:
            own = await uow.restrictions.get(chat_id, user_id)
        if own is None:
            return False
        now = self._clock()
        if own.until is None or own.until > now:
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
                if r.until is None or r.until > now:
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
