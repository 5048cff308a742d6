"""The workers' half of the gate's removals, warnings and dry runs.

Each handler carries out one action taken from the outbox (ActionRunner calls it
inside the action's claim, and classifies what it raises: a TelegramError is a
permanent refusal, audited and counted; a transient failure is retried later):

- KICK: remove the sender (ban, then lift the ban: they may join again), then prompt
  them, saying they were removed;
- BAN: ban the sender for good, prompting nobody;
- WARN: count the offence (once per message) and prompt "warning k of N"; the Nth
  applies the group's escalation (mute, kick or ban) and starts the count again;
- DRY_RUN: audit and count what the gate would have done; nothing else.

A kick or ban the bot may not make (no right to restrict members) is reported like a
refused mute (GateService.rights_lost) and the member is prompted as after a plain
removal, since they are still in the group. Each re-checks that the group is still
protected: protection switched off meanwhile leaves nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

from gmbot.domain.actions import Action, ActionKind, Priority, acting_as
from gmbot.domain.models import AuditEntry, AuditKind, GateAction, ProtectedGroup
from gmbot.domain.ports import Outbox, TelegramGateway, UnitOfWorkFactory, WarningStore
from gmbot.domain.telegram import NotEnoughRights, refusal_reason
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import GateService
from gmbot.services.muting import MIN_MUTE, RESTRICT_RIGHT, MuteService

log = structlog.get_logger(__name__)

Handler = Callable[[Action], Awaitable[None]]
_WOULD = frozenset(a.value for a in GateAction)


class GateActionHandlers:
    def __init__(
        self,
        gate: GateService,
        muter: MuteService,
        directory: GroupDirectory,
        outbox: Outbox,
        warnings: WarningStore,
        telegram: TelegramGateway,
        uow: UnitOfWorkFactory,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._gate = gate
        self._muter = muter
        self._directory = directory
        self._outbox = outbox
        self._warnings = warnings
        self._telegram = telegram
        self._uow = uow
        self._metrics = metrics
        self._clock = clock
        self.by_kind: Mapping[ActionKind, Handler] = {
            ActionKind.KICK: self.kick,
            ActionKind.BAN: self.ban,
            ActionKind.WARN: self.warn,
            ActionKind.DRY_RUN: self.dry_run,
        }

    async def kick(self, action: Action) -> None:
        group, msg = await self._subject(action)
        if group is None:
            return
        assert msg.user_id is not None
        missing = plan.channel_ids(action)
        try:
            with acting_as(Priority.MUTE):
                await self._telegram.kick(msg.chat_id, msg.user_id)
        except NotEnoughRights as err:
            await self._not_removed(group, msg, missing, err)
            raise
        await self._removed(group, msg, AuditKind.KICK, f"message={msg.message_id}")
        self._metrics.user_removed("kick")
        await self._outbox.record([plan.prompt(msg, missing, muted=False, removed=True)])

    async def ban(self, action: Action) -> None:
        group, msg = await self._subject(action)
        if group is None:
            return
        assert msg.user_id is not None
        try:
            with acting_as(Priority.MUTE):
                await self._telegram.ban(msg.chat_id, msg.user_id)
        except NotEnoughRights as err:
            await self._not_removed(group, msg, plan.channel_ids(action), err)
            raise
        await self._removed(group, msg, AuditKind.BAN, f"message={msg.message_id}")
        self._metrics.user_removed("ban")
        # One ban per member holds the offences already on their way; once banned, the
        # key goes, so a member an admin lets back in is banned again if they offend.
        await self._outbox.forget([action.key])

    async def warn(self, action: Action) -> None:
        group, msg = await self._subject(action)
        if group is None:
            return
        assert msg.user_id is not None
        chat_id, user_id = msg.chat_id, msg.user_id
        missing = plan.channel_ids(action)
        limit = group.settings.warn_limit
        # Counted by message: this action carried out again counts the offence once.
        count = await self._warnings.record(chat_id, user_id, msg.message_id)
        shown = min(count, limit)
        async with self._uow() as uow:
            await uow.audit.add(
                AuditEntry(AuditKind.WARN, chat_id, user_id, detail=f"{shown}/{limit}")
            )
            await uow.commit()
        self._metrics.user_warned()
        log.info("user_warned", chat_id=chat_id, user_id=user_id, count=count, limit=limit)
        # The member's earlier prompt goes: the new one says where they stand now.
        await self._muter.clear_prompt(chat_id, user_id)
        if count < limit:
            await self._outbox.record(
                [plan.prompt(msg, missing, muted=False, warning=(count, limit))]
            )
            return
        escalation = group.settings.escalation
        if escalation is GateAction.KICK:
            then = plan.kick(msg, missing)
        elif escalation is GateAction.BAN:
            then = plan.ban(msg)
        else:  # mute (the default), which records its own prompt
            period = group.settings.mute_seconds
            then = plan.mute(
                msg, missing, now=self._clock(), period=max(MIN_MUTE, period) if period else None
            )
        await self._outbox.record([then])
        # Recorded before the count starts again: a failure in between escalates once
        # more when retried (each escalation is once per offence or member), never zero.
        await self._warnings.reset(chat_id, user_id)
        log.info("warnings_escalated", chat_id=chat_id, user_id=user_id, to=escalation.value)

    async def dry_run(self, action: Action) -> None:
        group = await self._directory.group(action.chat_id)
        if group is None or not group.active:
            return
        would = action.fields.get("would", "")
        would = would if would in _WOULD else "unknown"
        async with self._uow() as uow:
            await uow.audit.add(
                AuditEntry(
                    AuditKind.DRY_RUN,
                    action.chat_id,
                    action.int_field("user"),
                    detail=f"{would} message={action.fields.get('message', '')}",
                )
            )
            await uow.commit()
        self._metrics.dry_run_recorded(would)
        log.info("gate_dry_run", chat_id=action.chat_id, would=would)

    async def _subject(self, action: Action) -> tuple[ProtectedGroup | None, IncomingMessage]:
        """The group, if still protected, and the message the action is about."""
        msg = plan.message_of(action)
        group = await self._directory.group(action.chat_id)
        if group is None or not group.active or msg.user_id is None:
            return None, msg
        return group, msg

    async def _removed(
        self, group: ProtectedGroup, msg: IncomingMessage, kind: AuditKind, detail: str
    ) -> None:
        assert msg.user_id is not None
        async with self._uow() as uow:
            await uow.audit.add(AuditEntry(kind, group.chat_id, msg.user_id, detail=detail))
            await uow.commit()
        log.info("user_removed", chat_id=group.chat_id, user_id=msg.user_id, how=kind.value)
        # Removal lifted any restriction of GMBot's with it: its record goes too, and the
        # member's prompt (they are gone, or told again after a kick).
        await self._muter.released(group.chat_id, msg.user_id)
        await self._muter.clear_prompt(group.chat_id, msg.user_id)

    async def _not_removed(
        self,
        group: ProtectedGroup,
        msg: IncomingMessage,
        missing: list[int],
        err: NotEnoughRights,
    ) -> None:
        """Refused for want of the right: reported to the admins, and the member, still
        in the group, is prompted as after a plain removal of their message. (Refused
        as an admin, made one since the gate decided, they are left alone.)"""
        if refusal_reason(err) != "no_rights":
            return
        await self._outbox.record([plan.prompt(msg, missing, muted=False)])
        await self._gate.rights_lost(group, [RESTRICT_RIGHT])
