"""/status, /exempt, /unexempt and /settings for a group's admins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.ports import RaidWatch, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import ChatInfo, MemberListInaccessible, TelegramError
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import Actor
from gmbot.services.group_settings import SettingsError, apply_setting
from gmbot.services.prompting import PromptService
from gmbot.services.protection import GROUP_RIGHTS, GroupProblem, ProtectionService


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    display: str
    bot_is_admin: bool | None  # None: could not be checked now


@dataclass(frozen=True, slots=True)
class StatusReport:
    group: ProtectedGroup | None
    rights: GroupProblem
    channels: tuple[ChannelHealth, ...] = ()
    exempt: tuple[int, ...] = ()
    raid_gated: int | None = None  # members gated since the raid going on began, if one is
    dry_runs: int = 0  # decisions a dry run recorded (instead of acting) in DRY_RUN_WINDOW


DRY_RUN_WINDOW = timedelta(hours=24)


class GroupAdminService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telegram: TelegramGateway,
        directory: GroupDirectory,
        protection: ProtectionService,
        bot_id: Callable[[], int],
        clock: Callable[[], datetime],
        raids: RaidWatch,
        prompting: PromptService,
    ) -> None:
        self._prompting = prompting  # /settings preview
        self._raids = raids
        self._uow = uow
        self._telegram = telegram
        self._directory = directory
        self._protection = protection
        self._bot_id = bot_id
        self._clock = clock

    async def status_of(self, chat_id: int) -> StatusReport:
        """/status in the chat with this id (its details are fetched from Telegram)."""
        try:
            chat = await self._telegram.get_chat(chat_id)
        except TelegramError as err:
            return StatusReport(None, GroupProblem(unavailable=err.description))
        return await self.status(chat)

    async def status(self, chat: ChatInfo) -> StatusReport:
        """Checks the bot's rights live and records what it finds."""
        rights = await self._protection.group_rights(chat)
        async with self._uow() as uow:
            group = await uow.groups.get(chat.id)
            exempt = tuple(await uow.exempt.list(chat.id)) if group else ()
            since = self._clock() - DRY_RUN_WINDOW
            dry_runs = (
                await uow.audit.count_since(chat.id, AuditKind.DRY_RUN, since) if group else 0
            )
        if group is None:
            return StatusReport(None, rights)
        health = []
        for channel in group.channels:
            display = await self._refresh_name(channel)
            try:
                me = await self._telegram.get_member(channel.channel_id, self._bot_id())
                ok: bool | None = me.is_admin
            except MemberListInaccessible:
                ok = False
            except TelegramError:
                ok = None
            health.append(ChannelHealth(display, ok))
            if ok is not None and ok != channel.bot_is_admin:
                async with self._uow() as uow:
                    await uow.groups.set_channel_admin(channel.channel_id, ok)
                    await uow.commit()
        missing = rights.missing_rights
        if rights.bot_not_admin or rights.basic_group:
            missing = GROUP_RIGHTS  # not an admin at all: every right is missing
        if not rights.unavailable and tuple(missing) != group.missing_rights:
            async with self._uow() as uow:
                await uow.groups.set_missing_rights(chat.id, missing)
                await uow.commit()
        await self._directory.invalidate(chat.id)
        raid = await self._raids.active(chat.id)
        return StatusReport(
            group,
            rights,
            tuple(health),
            exempt,
            raid.gated if raid is not None else None,
            dry_runs,
        )

    async def _refresh_name(self, channel: LinkedChannel) -> str:
        """Channels are linked by id; a renamed one keeps working, and its new
        title and username (for the Join button) are picked up here."""
        try:
            info = await self._telegram.get_chat(channel.channel_id)
        except TelegramError:
            return channel.display
        if (info.title, info.username) != (channel.title, channel.username):
            async with self._uow() as uow:
                await uow.groups.rename_channel(channel.channel_id, info.title, info.username)
                await uow.commit()
        return f"@{info.username}" if info.username else info.title

    async def exempt(self, chat_id: int, actor: Actor, user_id: int, add: bool) -> bool:
        """Returns False when nothing changed (already exempt / was not exempt)."""
        async with self._uow() as uow:
            if add:
                changed = await uow.exempt.add(chat_id, user_id, actor.user_id, self._clock())
            else:
                changed = await uow.exempt.remove(chat_id, user_id)
            if changed:
                kind = AuditKind.EXEMPT if add else AuditKind.UNEXEMPT
                await uow.audit.add(AuditEntry(kind, chat_id, user_id, actor_id=actor.user_id))
            await uow.commit()
        await self._directory.invalidate(chat_id)
        return changed

    async def settings_of(self, chat_id: int) -> GroupSettings | None:
        """The group's action settings; None when it is not protected."""
        async with self._uow() as uow:
            group = await uow.groups.get(chat_id)
        return group.settings if group is not None else None

    async def preview_prompt(
        self, chat_id: int, user_id: int, name: str, thread_id: int | None = None
    ) -> str | None:
        """/settings preview: the prompt as a member would see it, sent to the group with
        the admin as its subject (its "I've joined" button verifies nobody). None when
        sent, else why not (plain text)."""
        return await self._prompting.preview(chat_id, user_id, name, thread_id)

    async def update_settings(self, chat_id: int, key: str, value: str) -> GroupSettings:
        async with self._uow() as uow:
            group = await uow.groups.get(chat_id)
            if group is None:
                raise SettingsError("This group is not protected yet: use /protect @channel first.")
            settings = apply_setting(group.settings, key, value)
            await uow.groups.update_settings(chat_id, settings)
            await uow.commit()
        await self._directory.invalidate(chat_id)
        return settings
