"""Membership changes: the bot's own (my_chat_member) and others' (chat_member)."""

from __future__ import annotations

import structlog

from gmbot.domain.models import AuditEntry, AuditKind
from gmbot.domain.ports import UnitOfWorkFactory
from gmbot.domain.telegram import ChatType, MemberStatus
from gmbot.services import texts
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import MemberChange
from gmbot.services.notifier import AdminNotifier
from gmbot.services.protection import GROUP_RIGHTS
from gmbot.services.verification import VerificationService

log = structlog.get_logger(__name__)

_GONE = (MemberStatus.LEFT, MemberStatus.KICKED)
NOTICE_PERIOD = 3600.0


class ChatEventsService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        directory: GroupDirectory,
        verification: VerificationService,
        notifier: AdminNotifier,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._verification = verification
        self._notifier = notifier

    async def bot_status_changed(self, change: MemberChange) -> None:
        if change.chat_type is ChatType.CHANNEL:
            await self._bot_in_channel(change)
        elif change.chat_type in (ChatType.GROUP, ChatType.SUPERGROUP):
            await self._bot_in_group(change)

    async def member_changed(self, change: MemberChange) -> None:
        old, new = change.old, change.new
        if change.chat_type is ChatType.CHANNEL:
            if new.is_subscribed and not old.is_subscribed:
                await self._verification.channel_joined(change.chat_id, change.user_id)
            elif old.is_subscribed and not new.is_subscribed:
                await self._verification.channel_left(change.chat_id, change.user_id)
            return
        if old.is_admin != new.is_admin:
            # The cached admin list is stale from now on, on every instance.
            await self._directory.invalidate_admins(change.chat_id)
        if old.status is MemberStatus.RESTRICTED and new.status is not MemberStatus.RESTRICTED:
            # Someone lifted the restriction (or it ran out): if it was GMBot's mute,
            # GMBot forgets it, so the member's next offence mutes and prompts again.
            await self._verification.restriction_lifted(change.chat_id, change.user_id)

    async def migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        async with self._uow() as uow:
            moved = await uow.groups.migrate(old_chat_id, new_chat_id)
            await uow.commit()
        await self._directory.invalidate(old_chat_id)
        await self._directory.invalidate(new_chat_id)
        await self._directory.invalidate_admins(new_chat_id)
        log.info("group_migrated", old_chat_id=old_chat_id, new_chat_id=new_chat_id, moved=moved)

    async def _bot_in_group(self, change: MemberChange) -> None:
        new = change.new
        async with self._uow() as uow:
            group = await uow.groups.get(change.chat_id)
        if group is None:
            return
        if new.status in _GONE:
            async with self._uow() as uow:
                await uow.groups.set_enabled(change.chat_id, False)
                await uow.audit.add(
                    AuditEntry(AuditKind.BOT_REMOVED, change.chat_id, actor_id=change.actor_id)
                )
                await uow.commit()
            await self._directory.invalidate(change.chat_id)
            log.info("protection_disabled_bot_removed", chat_id=change.chat_id)
            return
        missing = tuple(r for r in GROUP_RIGHTS if not (new.is_admin and new.has_right(r)))
        if missing == group.missing_rights:
            return
        async with self._uow() as uow:
            await uow.groups.set_missing_rights(change.chat_id, missing)
            if missing:
                await uow.audit.add(
                    AuditEntry(AuditKind.RIGHTS_LOST, change.chat_id, detail=",".join(missing))
                )
            await uow.commit()
        await self._directory.invalidate(change.chat_id)
        if missing:
            log.warning("bot_rights_lost", chat_id=change.chat_id, missing=missing)
            await self._notifier.notify(
                change.chat_id,
                "rights:" + ",".join(missing),
                texts.rights_lost_notice(group.title, missing, "the group"),
                period=NOTICE_PERIOD,
                fallback_to_group=False,
            )

    async def _bot_in_channel(self, change: MemberChange) -> None:
        is_admin = change.new.is_admin
        async with self._uow() as uow:
            affected = await uow.groups.set_channel_admin(change.chat_id, is_admin)
            for chat_id in affected:
                if not is_admin:
                    await uow.audit.add(
                        AuditEntry(
                            AuditKind.RIGHTS_LOST, chat_id, detail=f"channel={change.chat_id}"
                        )
                    )
            await uow.commit()
        for chat_id in affected:
            await self._directory.invalidate(chat_id)
        if is_admin or not affected:
            return
        log.warning("bot_channel_admin_lost", channel_id=change.chat_id, groups=affected)
        for chat_id in affected:
            group = await self._directory.group(chat_id)
            if group is None or not group.enabled:
                continue  # the bot left that group: its owners need no notice
            await self._notifier.notify(
                chat_id,
                f"channel:{change.chat_id}",
                texts.rights_lost_notice(group.title, ["admin rights"], change.chat_title),
                period=NOTICE_PERIOD,
                fallback_to_group=False,
            )
