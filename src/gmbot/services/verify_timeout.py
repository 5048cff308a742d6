"""Verification timeouts: a member gated in a group with `/settings timeout` who has
not verified within it is removed from the group (kicked: banned, then the ban lifted
at once, so they may come back once subscribed).

The gate records one EXPEL per gated episode per member (gate_plan.expel, key
`expel:<chat>:<user>`) with the timeout as its delay: the timer lives in the outbox
(Redis), so it survives restarts, and whichever instance takes once it is due carries
it out, once. Then everything is asked again, Telegram first where it matters: the
group still protected with a timeout, the member not exempt, still in the group and
not an admin (getChatMember), and still not subscribed (a fresh look-up, never the
cache). Only then are they removed, audited (TIMEOUT_REMOVED) and counted, and their
prompt taken off the screen. Whatever the timer found, its key is forgotten after it,
so an offence after that starts a new timer.

A ban that went through with its lifting failing for now is finished on the retry: a
marker (Throttle) tells our own ban from an admin's, which is never lifted.
"""

from __future__ import annotations

from enum import StrEnum

import structlog

from gmbot.domain.actions import Action
from gmbot.domain.models import AuditEntry, AuditKind, ChannelMode, GateAction, ProtectedGroup
from gmbot.domain.ports import Outbox, TelegramGateway, Throttle, UnitOfWorkFactory
from gmbot.domain.telegram import MemberInfo, MemberStatus, TelegramError, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.group_settings import format_duration
from gmbot.services.membership import Membership, MembershipChecker
from gmbot.services.muting import MuteService

log = structlog.get_logger(__name__)

# How long "GMBot banned this member and has still to lift it" is remembered: far
# longer than the retries of one action last.
BAN_MARK_SECONDS = 7 * 86400.0


class TimeoutOutcome(StrEnum):
    """What a due timer found (bot_verify_timeouts{outcome})."""

    REMOVED = "removed"
    VERIFIED = "verified"  # subscribed by now: nothing to do
    OFF = "off"  # the group is no longer protected, or has no timeout (or a dry run)
    EXEMPT = "exempt"
    ADMIN = "admin"
    GONE = "gone"  # no longer in the group (left, removed or banned by someone else)
    UNKNOWN = "unknown"  # Telegram cannot tell (the bot may not see a channel's members)


def timeout_actions(group: ProtectedGroup, msg: IncomingMessage) -> list[Action]:
    """The removal timer to record with the gate's actions for a gated member, if the
    group has a timeout. None in a dry run (nothing is done) nor for a ban (they are
    removed for good already)."""
    s = group.settings
    if not s.verify_timeout or s.dry_run or s.action is GateAction.BAN or msg.user_id is None:
        return []
    return [plan.expel(msg, s.verify_timeout)]


class VerifyTimeouts:
    def __init__(
        self,
        directory: GroupDirectory,
        uow: UnitOfWorkFactory,
        telegram: TelegramGateway,
        checker: MembershipChecker,
        muter: MuteService,
        outbox: Outbox,
        marks: Throttle,
        metrics: Metrics,
    ) -> None:
        self._directory = directory
        self._uow = uow
        self._telegram = telegram
        self._checker = checker
        self._muter = muter
        self._outbox = outbox
        self._marks = marks
        self._metrics = metrics

    async def expire(self, action: Action) -> TimeoutOutcome:
        """Carry out a due EXPEL: remove the member unless they verified meanwhile (or
        may not be removed). Raises the gateway's errors: a transient one (Telegram,
        Redis or the database away) retries the timer, a refusal ends it."""
        user_id = action.int_field("user")
        assert user_id is not None
        chat_id = action.chat_id
        try:
            outcome = await self._expire(chat_id, user_id, action)
        except TelegramUnavailable:
            raise  # tried again later: the timer goes on
        except TelegramError:
            await self._over(chat_id, user_id)  # refused for good: the timer is over
            raise
        await self._over(chat_id, user_id)
        self._metrics.verify_timeout(outcome)
        log.info("verify_timeout", chat_id=chat_id, user_id=user_id, outcome=outcome.value)
        return outcome

    async def _expire(self, chat_id: int, user_id: int, action: Action) -> TimeoutOutcome:
        group = await self._directory.group(chat_id)
        s = group.settings if group is not None else None
        if group is None or s is None or not group.active or not s.verify_timeout or s.dry_run:
            return TimeoutOutcome.OFF
        async with self._uow() as uow:
            if user_id in await uow.exempt.list(chat_id):
                return TimeoutOutcome.EXEMPT
        member = await self._telegram.get_member(chat_id, user_id)
        if member.status is MemberStatus.KICKED and await self._banned_by_us(chat_id, user_id):
            # An earlier attempt banned them and could not lift the ban: finish it.
            await self._telegram.unban(chat_id, user_id, only_if_banned=True)
            await self._marks.release(_ban_mark(chat_id, user_id))
            await self._removed(group, user_id, action)
            return TimeoutOutcome.REMOVED
        if member.is_admin:
            return TimeoutOutcome.ADMIN
        if not _in_group(member):
            return TimeoutOutcome.GONE
        ids = [c.channel_id for c in group.channels]
        membership = await self._checker.check(user_id, ids, fresh=True, mode=s.mode)
        if membership.satisfied(s.mode):
            return TimeoutOutcome.VERIFIED
        if not _surely_missing(membership, s.mode):
            if membership.unknown - membership.inaccessible:
                # Telegram did not answer for some channel: look again later.
                raise TelegramUnavailable("membership could not be checked", "getChatMember")
            return TimeoutOutcome.UNKNOWN  # channels the bot cannot see: not removed
        mark = _ban_mark(chat_id, user_id)
        await self._marks.acquire(mark, BAN_MARK_SECONDS)
        await self._telegram.kick(chat_id, user_id)
        await self._marks.release(mark)
        await self._removed(group, user_id, action)
        return TimeoutOutcome.REMOVED

    async def _banned_by_us(self, chat_id: int, user_id: int) -> bool:
        return await self._marks.remaining(_ban_mark(chat_id, user_id)) > 0

    async def _removed(self, group: ProtectedGroup, user_id: int, action: Action) -> None:
        """After the removal: audit it, forget GMBot's mute (a member coming back
        unverified is muted again), take their prompt off the screen. Each step is
        best effort: the removal stands, and doing it again would find them gone."""
        chat_id = group.chat_id
        timeout = action.int_field("timeout")
        try:
            async with self._uow() as uow:
                await uow.audit.add(
                    AuditEntry(
                        AuditKind.TIMEOUT_REMOVED,
                        chat_id,
                        user_id,
                        detail=f"not verified within {format_duration(timeout)}"
                        if timeout
                        else "not verified",
                    )
                )
                await uow.commit()
        except Exception as exc:
            log.warning("verify_timeout_audit_failed", chat_id=chat_id, error=str(exc))
        try:
            await self._muter.released(chat_id, user_id)
            await self._muter.clear_prompt(chat_id, user_id)
        except Exception as exc:
            log.warning("verify_timeout_cleanup_failed", chat_id=chat_id, error=str(exc))

    async def _over(self, chat_id: int, user_id: int) -> None:
        """The timer fired: a later offence may start a new one."""
        try:
            await self._outbox.forget([plan.expel_key(chat_id, user_id)])
        except Exception as exc:  # the key expires by itself
            log.warning("expel_key_forget_failed", chat_id=chat_id, error=str(exc))


def _ban_mark(chat_id: int, user_id: int) -> str:
    return f"expel-ban:{chat_id}:{user_id}"


def _in_group(member: MemberInfo) -> bool:
    if member.status is MemberStatus.MEMBER:
        return True
    return member.status is MemberStatus.RESTRICTED and member.is_member


def _surely_missing(membership: Membership, mode: ChannelMode) -> bool:
    """Telegram said they lack what the group asks, whatever the unknown channels are."""
    if mode is ChannelMode.ANY:
        return not membership.joined and not membership.unknown
    return bool(membership.missing)
