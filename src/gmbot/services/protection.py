"""/protect and /unprotect: link a group to channels, after checking every right."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog

from gmbot.domain.models import AuditEntry, AuditKind, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import (
    ChatInfo,
    ChatNotFound,
    ChatType,
    MemberListInaccessible,
    TelegramError,
)
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import Actor
from gmbot.services.muting import MuteService
from gmbot.services.refs import ChannelRef, parse_channel_refs

log = structlog.get_logger(__name__)

GROUP_RIGHTS = ("can_delete_messages", "can_restrict_members")


class Problem(StrEnum):
    NOT_FOUND = "not_found"
    NOT_A_CHANNEL = "not_a_channel"
    BOT_NOT_CHANNEL_ADMIN = "bot_not_channel_admin"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class ChannelProblem:
    ref: str
    problem: Problem
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GroupProblem:
    basic_group: bool = False
    bot_not_admin: bool = False
    missing_rights: tuple[str, ...] = ()
    unavailable: str = ""

    @property
    def any(self) -> bool:
        return (
            self.basic_group
            or self.bot_not_admin
            or bool(self.missing_rights)
            or bool(self.unavailable)
        )


@dataclass(frozen=True, slots=True)
class ProtectResult:
    bad_refs: tuple[str, ...] = ()  # arguments that are not channel references
    group_problem: GroupProblem = GroupProblem()
    channel_problems: tuple[ChannelProblem, ...] = ()
    linked: tuple[LinkedChannel, ...] = ()
    group: ProtectedGroup | None = None

    @property
    def ok(self) -> bool:
        return bool(self.linked) and not self.channel_problems and not self.bad_refs


@dataclass(frozen=True, slots=True)
class UnprotectResult:
    removed: int
    was_protected: bool
    unknown_refs: tuple[str, ...] = field(default=())
    still_linked: tuple[LinkedChannel, ...] = ()
    unmuted: int = 0  # GMBot's mutes lifted because protection is off


class ProtectionService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telegram: TelegramGateway,
        directory: GroupDirectory,
        muter: MuteService,
        bot_id: Callable[[], int],
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._telegram = telegram
        self._directory = directory
        self._muter = muter
        self._bot_id = bot_id
        self._clock = clock

    async def group_rights(self, chat: ChatInfo) -> GroupProblem:
        """What stops the bot from protecting this group, if anything."""
        if chat.type is ChatType.GROUP:
            return GroupProblem(basic_group=True)
        try:
            me = await self._telegram.get_member(chat.id, self._bot_id())
        except TelegramError as err:
            return GroupProblem(unavailable=err.description)
        if not me.is_admin:
            return GroupProblem(bot_not_admin=True)
        missing = tuple(r for r in GROUP_RIGHTS if not me.has_right(r))
        return GroupProblem(missing_rights=missing)

    async def protect_chat(self, chat_id: int, actor: Actor, args: Sequence[str]) -> ProtectResult:
        """/protect in the chat with this id (its details are fetched from Telegram)."""
        try:
            chat = await self._telegram.get_chat(chat_id)
        except TelegramError as err:
            return ProtectResult(group_problem=GroupProblem(unavailable=err.description))
        return await self.protect(chat, actor, args)

    async def protect(self, chat: ChatInfo, actor: Actor, args: Sequence[str]) -> ProtectResult:
        refs, bad = parse_channel_refs(args)
        if bad or not refs:
            return ProtectResult(bad_refs=tuple(bad))
        problem = await self.group_rights(chat)
        if problem.any:
            return ProtectResult(group_problem=problem)
        channels: list[LinkedChannel] = []
        problems: list[ChannelProblem] = []
        for ref in refs:
            found = await self._resolve(ref)
            if isinstance(found, ChannelProblem):
                problems.append(found)
            else:
                channels.append(found)
        if problems:
            # All or nothing: a half-applied /protect would surprise the admin.
            return ProtectResult(channel_problems=tuple(problems))
        now = self._clock()
        async with self._uow() as uow:
            group = await uow.groups.protect(
                chat.id, chat.title, actor.user_id, chat.linked_chat_id, channels, now
            )
            await uow.groups.set_missing_rights(chat.id, ())
            if actor.user_id is not None and not actor.as_group:
                await uow.owners.add(chat.id, actor.user_id, now)
            await uow.audit.add(
                AuditEntry(
                    AuditKind.PROTECT,
                    chat.id,
                    actor_id=actor.user_id,
                    detail=",".join(str(c.channel_id) for c in channels),
                )
            )
            await uow.commit()
        await self._directory.invalidate(chat.id)
        await self._directory.invalidate_admins(chat.id)
        log.info("group_protected", chat_id=chat.id, channels=[c.channel_id for c in channels])
        return ProtectResult(linked=tuple(channels), group=group)

    async def unprotect(self, chat_id: int, actor: Actor, args: Sequence[str]) -> UnprotectResult:
        async with self._uow() as uow:
            group = await uow.groups.get(chat_id)
        if group is None or not group.active:
            return UnprotectResult(removed=0, was_protected=False)
        ids: list[int] | None = None
        unknown: list[str] = []
        if args:
            refs, bad = parse_channel_refs(args)
            ids = []
            for ref in refs:
                match = next((c for c in group.channels if ref.matches(c)), None)
                if match is None:
                    unknown.append(ref.text)
                else:
                    ids.append(match.channel_id)
            unknown.extend(bad)
            if not ids:
                return UnprotectResult(0, True, tuple(unknown), group.channels)
        async with self._uow() as uow:
            removed = await uow.groups.unlink(chat_id, ids)
            await uow.audit.add(
                AuditEntry(
                    AuditKind.UNPROTECT,
                    chat_id,
                    actor_id=actor.user_id,
                    detail="all" if ids is None else ",".join(map(str, ids)),
                )
            )
            await uow.commit()
            after = await uow.groups.get(chat_id)
        await self._directory.invalidate(chat_id)
        still = after.channels if after else ()
        log.info("group_unprotected", chat_id=chat_id, removed=removed)
        unmuted = 0
        if not still:
            # Nothing to verify against any more: nobody should stay muted by GMBot.
            unmuted = await self._muter.lift_all(chat_id, "unprotected")
        return UnprotectResult(removed, True, tuple(unknown), still, unmuted)

    async def _resolve(self, ref: ChannelRef) -> LinkedChannel | ChannelProblem:
        try:
            chat = await self._telegram.get_chat(ref.lookup)
        except ChatNotFound:
            return ChannelProblem(ref.text, Problem.NOT_FOUND)
        except TelegramError as err:
            return ChannelProblem(ref.text, Problem.UNAVAILABLE, err.description)
        if not chat.is_channel:
            return ChannelProblem(ref.text, Problem.NOT_A_CHANNEL, chat.type.value)
        try:
            me = await self._telegram.get_member(chat.id, self._bot_id())
            is_admin = me.is_admin
        except (MemberListInaccessible, ChatNotFound):
            is_admin = False
        except TelegramError as err:
            return ChannelProblem(ref.text, Problem.UNAVAILABLE, err.description)
        if not is_admin:
            return ChannelProblem(ref.text, Problem.BOT_NOT_CHANNEL_ADMIN, chat.title)
        invite = chat.invite_link
        if not chat.username and not invite:
            try:
                invite = await self._telegram.create_invite_link(chat.id)
            except TelegramError as err:
                log.warning("invite_link_failed", channel_id=chat.id, error=err.description)
        return LinkedChannel(
            channel_id=chat.id, title=chat.title, username=chat.username, invite_link=invite
        )
