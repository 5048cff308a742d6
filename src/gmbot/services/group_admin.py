"""/status, /exempt, /unexempt and /settings for a group's admins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    RaidMode,
)
from gmbot.domain.ports import RaidWatch, TelegramGateway, UnitOfWorkFactory
from gmbot.domain.telegram import ChatInfo, MemberListInaccessible, TelegramError
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import Actor
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


class SettingsError(ValueError):
    """A /settings argument that cannot be applied; the text is shown to the admin."""


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
    ) -> None:
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
            group, rights, tuple(health), exempt, raid.gated if raid is not None else None
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


def parse_duration(text: str) -> int:
    """ "90", "90s", "15m", "2h", "1d" to seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            return int(t[:-1]) * units[t[-1]]
        return int(t)
    except ValueError:
        raise SettingsError(
            f"“{text}” is not a duration: use e.g. 90, 90s, 15m, 2h or 1d."
        ) from None


def apply_setting(settings: GroupSettings, key: str, value: str) -> GroupSettings:
    key, low = key.lower(), value.strip().lower()
    if key == "action":
        if low not in {a.value for a in GateAction}:
            raise SettingsError(
                "action must be “mute” (delete and mute) or “delete” (delete only)."
            )
        return replace(settings, action=GateAction(low))
    if key == "prompt":
        seconds = parse_duration(value)
        if not 10 <= seconds <= 86400:
            raise SettingsError("prompt lifetime must be between 10s and 1d.")
        return replace(settings, prompt_ttl=seconds)
    if key == "mute":
        if low in {"off", "forever", "until-verified", "0"}:
            return replace(settings, mute_seconds=None)
        seconds = parse_duration(value)
        if not 30 <= seconds <= 366 * 86400:
            raise SettingsError("mute length must be between 30s and 366d, or “off”.")
        return replace(settings, mute_seconds=seconds)
    if key in {"channelposts", "channel_posts"}:
        if low not in {"on", "off", "yes", "no", "true", "false"}:
            raise SettingsError("channelposts must be “on” (delete them) or “off”.")
        return replace(settings, delete_channel_posts=low in {"on", "yes", "true"})
    if key == "raid":
        return _raid_setting(settings, low)
    raise SettingsError(
        "Unknown setting. Use: action mute|delete, prompt <duration>, "
        "mute <duration>|off, channelposts on|off, raid auto [N]|on|off."
    )


RAID_THRESHOLDS = range(2, 1001)


def _raid_setting(settings: GroupSettings, value: str) -> GroupSettings:
    """`auto`, `auto N`, `N` (auto at N members a minute), `on` or `off`."""
    words = value.split()
    if words and words[0].isdigit():
        words = ["auto", *words]
    if not words or words[0] not in {m.value for m in RaidMode} or len(words) > 2:
        raise SettingsError(
            "raid must be “auto” (a shared notice once N members are gated within a "
            "minute; “auto 5” sets N), “on” (always the shared notice) or “off”."
        )
    mode = RaidMode(words[0])
    if len(words) == 1:
        return replace(settings, raid=mode)
    if mode is not RaidMode.AUTO or not words[1].isdigit():
        raise SettingsError("only “auto” takes a number: e.g. “raid auto 5”.")
    threshold = int(words[1])
    if threshold not in RAID_THRESHOLDS:
        raise SettingsError(
            f"the raid threshold must be between {RAID_THRESHOLDS.start} and "
            f"{RAID_THRESHOLDS.stop - 1} members a minute."
        )
    return replace(settings, raid=mode, raid_threshold=threshold)
