"""The per-message gate: pass members, remove and mute everyone else.

Steady state for a verified member: one Redis round trip (GateCache.lookup), no
database query, no Bot API call, no log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from gmbot.domain.models import AuditEntry, AuditKind, GateAction, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import (
    CacheUnavailable,
    DueDeletion,
    GateCache,
    GateLookup,
    GateState,
    PromptStore,
    TelegramGateway,
    UnitOfWorkFactory,
)
from gmbot.domain.telegram import NotEnoughRights, TelegramError
from gmbot.metrics import Metrics
from gmbot.services import texts
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.gate_verdicts import SETTLED
from gmbot.services.gate_verdicts import Verdict as Verdict  # re-exported: callers import it here
from gmbot.services.membership import Membership, MembershipChecker
from gmbot.services.muting import RESTRICT_RIGHT, MuteOutcome, MuteService
from gmbot.services.notifier import AdminNotifier

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
        muter: MuteService,
        prompts: PromptStore,
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
        self._muter = muter
        self._prompts = prompts
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
        try:
            look = looked_up or await self._cache.lookup(msg.chat_id, msg.user_id)
        except CacheUnavailable:
            return await self._without_cache(msg)
        if look.state is GateState.GROUP_UNKNOWN:
            await self._directory.reload(msg.chat_id)
            look = await self._cache.lookup(msg.chat_id, msg.user_id)
        if look.state is GateState.ADMINS_UNKNOWN:
            await self._directory.load_admins(msg.chat_id)
            look = await self._cache.lookup(msg.chat_id, msg.user_id)
        state = look.state
        settled = SETTLED.get(state)
        if settled is not None:
            return settled
        if state is GateState.GROUP_UNKNOWN:  # reloaded, and still not protected
            return Verdict.IGNORED
        group = await self._directory.group(msg.chat_id)
        if group is None or not group.active:
            return Verdict.IGNORED
        ids = [c.channel_id for c in group.channels]
        if state is GateState.ADMINS_UNKNOWN:
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
            membership = await self._checker.check(msg.user_id, ids)
        else:
            membership = await self._checker.check(
                msg.user_id, look.unknown, known_missing=look.missing
            )
            membership.joined.update(set(ids) - membership.missing - membership.unknown)
        return await self._decide(group, msg, membership)

    async def _without_cache(self, msg: IncomingMessage) -> Verdict:
        """Redis is down: decide from the database and Telegram alone, never by guessing."""
        assert msg.user_id is not None
        log.warning("gate_cache_unavailable", chat_id=msg.chat_id)
        async with self._uow() as uow:
            group = await uow.groups.get(msg.chat_id)
            exempt = await uow.exempt.list(msg.chat_id) if group else []
        if group is None or not group.active:
            return Verdict.IGNORED
        if msg.user_id in exempt:
            return Verdict.PASSED
        membership = Membership()
        try:
            if (await self._telegram.get_member(msg.chat_id, msg.user_id)).is_admin:
                return Verdict.PASSED
            for channel in group.channels:
                member = await self._telegram.get_member(channel.channel_id, msg.user_id)
                (membership.joined if member.is_subscribed else membership.missing).add(
                    channel.channel_id
                )
        except TelegramError:
            membership.unknown.update(c.channel_id for c in group.channels)
            membership.unknown -= membership.joined | membership.missing
        if membership.missing:
            # Remove and mute, but no prompt: its one-per-user slot lives in Redis.
            await self._remove(group, msg)
            if group.settings.action is GateAction.MUTE:
                await self._muter.mute(group, msg.user_id)
            self._metrics.membership_decided("not_member")
            return Verdict.REMOVED
        if membership.unknown:
            self._metrics.membership_decided("unknown")
            if self._policy.fail_open:
                self._metrics.failed_open()
                return Verdict.FAIL_OPEN
            await self._remove(group, msg)
            return Verdict.REMOVED
        return Verdict.PASSED

    async def _decide(
        self, group: ProtectedGroup, msg: IncomingMessage, membership: Membership
    ) -> Verdict:
        assert msg.user_id is not None
        if membership.inaccessible:
            await self._channels_inaccessible(group, membership.inaccessible)
        if membership.complete:
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
        missing = [c for c in group.channels if c.channel_id in missing_ids]
        await self._remove(group, msg)
        muted = False
        if group.settings.action is GateAction.MUTE:
            outcome = await self._muter.mute(group, msg.user_id)
            muted = outcome is MuteOutcome.MUTED
            if outcome is MuteOutcome.REFUSED:
                await self._rights_lost(group, [RESTRICT_RIGHT])
        await self._prompt(group, msg, missing, muted)
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
        await self._remove(group, msg)
        return Verdict.CHANNEL_POST_REMOVED

    async def _remove(self, group: ProtectedGroup, msg: IncomingMessage) -> None:
        try:
            await self._telegram.delete_message(msg.chat_id, msg.message_id)
            self._metrics.message_deleted()
        except NotEnoughRights:
            await self._rights_lost(group, [DELETE_RIGHT])
        except TelegramError as err:
            log.warning("delete_failed", chat_id=msg.chat_id, error=err.description)

    async def _prompt(
        self, group: ProtectedGroup, msg: IncomingMessage, missing: list[LinkedChannel], muted: bool
    ) -> None:
        assert msg.user_id is not None
        ttl = group.settings.prompt_ttl
        if not await self._prompts.claim(msg.chat_id, msg.user_id, ttl, owner=msg.message_id):
            return  # one prompt per user per group, not one per message
        text = texts.prompt(msg.user_id, msg.user_name, missing, muted)
        if group.missing_rights:
            text += "\n\n" + texts.rights_warning(group.missing_rights)
        try:
            message_id = await self._telegram.send_message(
                msg.chat_id,
                text,
                keyboard=texts.prompt_keyboard(msg.user_id, missing),
                thread_id=msg.thread_id,
            )
        except TelegramError as err:
            await self._prompts.clear(msg.chat_id, msg.user_id)
            log.warning("prompt_failed", chat_id=msg.chat_id, error=err.description)
            return
        await self._prompts.attach(msg.chat_id, msg.user_id, message_id, ttl)
        await self._prompts.schedule_deletion(
            DueDeletion(msg.chat_id, message_id, msg.user_id), self._clock() + ttl
        )

    async def _rights_lost(self, group: ProtectedGroup, rights: list[str]) -> None:
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
