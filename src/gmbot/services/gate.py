"""The per-message gate: pass members, remove and mute everyone else.

Steady state for a verified member: one Redis round trip (GateCache.lookup), no
database query, no Bot API call, no log line. For anyone else the gate only decides:
what to do (per the group's action: delete, mute, kick, ban or warn, and prompt; in a
dry run only a record of it) is recorded in the outbox, in one more round trip, and
carried out by the workers within Telegram's limits. A sender whose membership
is not cached is looked up by a worker too (`check`), never inside the chat's
webhook request, which would hold back every later update of the chat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from gmbot.domain.models import AuditEntry, AuditKind, GateAction, ProtectedGroup
from gmbot.domain.ports import (
    GateCache,
    GateLookup,
    GateState,
    Outbox,
    TelegramGateway,
    UnitOfWorkFactory,
)
from gmbot.domain.telegram import TelegramError
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services import texts
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.gate_verdicts import SETTLED
from gmbot.services.gate_verdicts import Verdict as Verdict  # re-exported: callers import it here
from gmbot.services.membership import Membership, MembershipChecker
from gmbot.services.muting import MIN_MUTE
from gmbot.services.notifier import AdminNotifier
from gmbot.services.verify_timeout import timeout_actions

log = structlog.get_logger(__name__)

DELETE_RIGHT = "can_delete_messages"
FAIL_NOTICE_PERIOD = 3600.0
RIGHTS_NOTICE_PERIOD = 3600.0


@dataclass(frozen=True, slots=True)
class GatePolicy:
    fail_open: bool = True


class GateService:
    def __init__(
        self,
        cache: GateCache,
        directory: GroupDirectory,
        checker: MembershipChecker,
        outbox: Outbox,
        notifier: AdminNotifier,
        telegram: TelegramGateway,
        uow: UnitOfWorkFactory,
        metrics: Metrics,
        policy: GatePolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._directory = directory
        self._checker = checker
        self._outbox = outbox
        self._notifier = notifier
        self._telegram = telegram
        self._uow = uow
        self._metrics = metrics
        self._policy = policy
        self._clock = clock

    async def on_message(
        self, msg: IncomingMessage, looked_up: GateLookup | None = None
    ) -> Verdict:
        """Decide on one message. `looked_up`: the cache lookup, when the caller
        already made it (the webhook fast path does, in the same round trip as the
        update claim)."""
        if msg.sender_chat_id is not None:
            return await self._sender_chat(msg)
        if msg.user_id is None or msg.user_is_bot:
            return Verdict.PASSED
        # Redis unreachable (CacheUnavailable, or redis-py's own errors) is not decided
        # here: it propagates, the update is answered 503 and delivered again later.
        look = await self._look_up(msg, looked_up)
        state = look.state
        settled = SETTLED.get(state)
        if settled is not None:
            return settled
        if state is GateState.GROUP_UNKNOWN:  # reloaded, and still not protected
            return Verdict.IGNORED
        group = await self._directory.group(msg.chat_id)
        if group is None or not group.active:
            return Verdict.IGNORED
        if state is GateState.ADMINS_UNKNOWN or look.unknown:
            # A Telegram look-up is needed: a worker makes it, so this chat's
            # later updates do not wait behind it.
            await self._outbox.record([plan.check(msg)])
            return Verdict.QUEUED
        # Every channel is cached, and some as not joined: decide right away.
        ids = {c.channel_id for c in group.channels}
        membership = Membership(joined=ids - set(look.missing), missing=set(look.missing))
        return await self._decide(group, msg, membership)

    async def _look_up(self, msg: IncomingMessage, looked_up: GateLookup | None) -> GateLookup:
        """The cached verdict, loading the group or its admins first if not cached."""
        assert msg.user_id is not None
        look = looked_up or await self._cache.lookup(msg.chat_id, msg.user_id)
        if look.state is GateState.GROUP_UNKNOWN:
            await self._directory.reload(msg.chat_id)
            look = await self._cache.lookup(msg.chat_id, msg.user_id)
        if look.state is GateState.ADMINS_UNKNOWN:
            await self._directory.load_admins(msg.chat_id)
            look = await self._cache.lookup(msg.chat_id, msg.user_id)
        return look

    async def defer(self, msg: IncomingMessage) -> None:
        """Leave the whole decision to a worker (the update itself is given up on)."""
        if msg.user_id is not None and not msg.user_is_bot:
            await self._outbox.record([plan.check(msg)])

    async def check(self, msg: IncomingMessage) -> Verdict:
        """A worker's half of the gate: look membership up with Telegram (and, when
        the admin list could not be loaded, whether the sender is an admin), then
        record what to do, as the webhook would have. The cache is asked again first:
        the sender may have been verified or made an admin meanwhile."""
        assert msg.user_id is not None
        look = await self._look_up(msg, None)
        if look.state in SETTLED:
            return SETTLED[look.state]  # an admin or exempt meanwhile, or verified
        group = await self._directory.group(msg.chat_id)
        if look.state is GateState.GROUP_UNKNOWN or group is None or not group.active:
            return Verdict.IGNORED
        ids = [c.channel_id for c in group.channels]
        if look.state is GateState.ADMINS_UNKNOWN:
            # Telegram would not list the admins, so the cached verdict stopped
            # before the exempt and admin checks: make both for this one user.
            async with self._uow() as uow:
                if msg.user_id in await uow.exempt.list(msg.chat_id):
                    return Verdict.PASSED
            try:
                if (await self._telegram.get_member(msg.chat_id, msg.user_id)).is_admin:
                    return Verdict.PASSED
            except TelegramError:
                pass
            membership = await self._checker.check(msg.user_id, ids, mode=group.settings.mode)
        else:
            membership = await self._checker.check(
                msg.user_id, look.unknown, known_missing=look.missing, mode=group.settings.mode
            )
            membership.joined.update(set(ids) - membership.missing - membership.unknown)
        return await self._decide(group, msg, membership)

    async def _decide(
        self, group: ProtectedGroup, msg: IncomingMessage, membership: Membership
    ) -> Verdict:
        assert msg.user_id is not None
        if membership.inaccessible:
            await self._channels_inaccessible(group, membership.inaccessible)
        if membership.satisfied(group.settings.mode):
            self._metrics.membership_decided("member")
            return Verdict.PASSED
        if not membership.missing and self._policy.fail_open:
            self._metrics.membership_decided("unknown")
            self._metrics.failed_open()
            log.warning("gate_fail_open", chat_id=group.chat_id, user_id=msg.user_id)
            await self._notifier.notify(
                group.chat_id,
                "fail_open",
                texts.fail_open_notice(group.title),
                period=FAIL_NOTICE_PERIOD,
                fallback_to_group=True,
            )
            return Verdict.FAIL_OPEN
        self._metrics.membership_decided("not_member" if membership.missing else "unknown")
        missing_ids = membership.missing | membership.unknown
        missing = [c.channel_id for c in group.channels if c.channel_id in missing_ids]
        settings = group.settings
        if settings.dry_run:  # what would be done is audited and counted, nothing else
            await self._outbox.record([plan.dry_run(msg, settings.action.value)])
            return Verdict.DRY_RUN
        actions = [plan.delete(msg.chat_id, msg.message_id)]
        # Kicks, bans and mutes are tried even with the right recorded as lost: it may be
        # back, and a refusal is what tells the admins again. A mute and a kick record
        # the prompt after them (it then says what happened); a ban prompts nobody; a
        # warning prompts "warning k of N", or escalates at N.
        if settings.action is GateAction.MUTE:
            period = settings.mute_seconds
            actions.append(
                plan.mute(
                    msg,
                    missing,
                    now=self._clock(),
                    period=max(MIN_MUTE, period) if period else None,
                )
            )
        elif settings.action is GateAction.KICK:
            actions.append(plan.kick(msg, missing))
        elif settings.action is GateAction.BAN:
            actions.append(plan.ban(msg))
        elif settings.action is GateAction.WARN:
            actions.append(plan.warn(msg, missing))
        actions += timeout_actions(group, msg)  # the verification timeout's timer, if set
        await self._outbox.record(actions)
        return Verdict.REMOVED

    async def _sender_chat(self, msg: IncomingMessage) -> Verdict:
        # The group's anonymous admins post as the group; its discussion channel's
        # posts arrive as automatic forwards: both are never gated.
        if msg.sender_chat_id == msg.chat_id or msg.is_automatic_forward:
            return Verdict.PASSED
        group = await self._directory.group(msg.chat_id)
        if group is None or not group.active:
            return Verdict.IGNORED
        if msg.sender_chat_id == group.linked_chat_id or not group.settings.delete_channel_posts:
            return Verdict.PASSED
        if group.settings.dry_run:
            await self._outbox.record([plan.dry_run(msg, GateAction.DELETE.value)])
            return Verdict.DRY_RUN
        await self._outbox.record([plan.delete(msg.chat_id, msg.message_id)])
        return Verdict.CHANNEL_POST_REMOVED

    async def delete_batch(self, chat_id: int, message_ids: list[int]) -> None:
        """Delete gated messages of one chat in one call (the workers batch them)."""
        await self._telegram.delete_messages(chat_id, message_ids)
        self._metrics.message_deleted(len(message_ids))

    async def rights_lost(self, group: ProtectedGroup, rights: list[str]) -> None:
        merged = sorted(set(group.missing_rights) | set(rights))
        if merged != sorted(group.missing_rights):
            async with self._uow() as uow:
                await uow.groups.set_missing_rights(group.chat_id, merged)
                await uow.audit.add(
                    AuditEntry(AuditKind.RIGHTS_LOST, group.chat_id, detail=",".join(rights))
                )
                await uow.commit()
            await self._directory.invalidate(group.chat_id)
        await self._notifier.notify(
            group.chat_id,
            "rights:" + ",".join(sorted(rights)),
            texts.rights_lost_notice(group.title, rights, "the group"),
            period=RIGHTS_NOTICE_PERIOD,
            fallback_to_group=False,
        )

    async def _channels_inaccessible(self, group: ProtectedGroup, channel_ids: set[int]) -> None:
        newly = [c for c in group.channels if c.channel_id in channel_ids and c.bot_is_admin]
        if not newly:
            return
        async with self._uow() as uow:
            for channel in newly:
                await uow.groups.set_channel_admin(channel.channel_id, False)
                await uow.audit.add(
                    AuditEntry(
                        AuditKind.RIGHTS_LOST, group.chat_id, detail=f"channel={channel.channel_id}"
                    )
                )
            await uow.commit()
        await self._directory.invalidate(group.chat_id)
        for channel in newly:
            await self._notifier.notify(
                group.chat_id,
                f"channel:{channel.channel_id}",
                texts.rights_lost_notice(group.title, ["admin rights"], channel.display),
                period=RIGHTS_NOTICE_PERIOD,
                fallback_to_group=False,
            )
