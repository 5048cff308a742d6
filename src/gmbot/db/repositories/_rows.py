"""Conversions between table rows and domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gmbot.db.tables import ChannelRow, GroupRow, as_utc
from gmbot.domain.models import (
    ChannelMode,
    ConfigRights,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    RaidMode,
)

_RIGHTS_SEPARATOR = ","


def new_group_row(chat_id: int, title: str, protected_by: int | None, now: datetime) -> GroupRow:
    defaults = GroupSettings()
    return GroupRow(
        chat_id=chat_id,
        title=title,
        protected_by=protected_by,
        protected_at=now,
        enabled=True,
        action=defaults.action.value,
        prompt_ttl=defaults.prompt_ttl,
        mute_seconds=defaults.mute_seconds,
        delete_channel_posts=defaults.delete_channel_posts,
        raid_mode=defaults.raid.value,
        raid_threshold=defaults.raid_threshold,
        **settings_columns(defaults),
        linked_chat_id=None,
        missing_rights="",
    )


def settings_columns(settings: GroupSettings) -> dict[str, Any]:
    """The admin settings added by migration 0004, as GroupRow columns."""
    return {
        "warn_limit": settings.warn_limit,
        "escalation": settings.escalation.value,
        "verify_timeout": settings.verify_timeout,
        "channel_mode": settings.mode.value,
        "dry_run": settings.dry_run,
        "prompt_text": settings.prompt_text,
        "joined_label": settings.joined_label,
        "join_label": settings.join_label,
        "config_rights": settings.config_rights.value,
    }


def join_rights(rights: Sequence[str]) -> str:
    """Comma-separated, first occurrence kept; a name that could not be split back is refused."""
    for right in rights:
        if _RIGHTS_SEPARATOR in right or not right:
            raise ValueError(f"invalid right name: {right!r}")
    return _RIGHTS_SEPARATOR.join(dict.fromkeys(rights))


def to_channel(row: ChannelRow) -> LinkedChannel:
    return LinkedChannel(
        channel_id=row.channel_id,
        title=row.title,
        username=row.username,
        invite_link=row.invite_link,
        bot_is_admin=row.bot_is_admin,
    )


def to_group(row: GroupRow, channels: Sequence[LinkedChannel]) -> ProtectedGroup:
    return ProtectedGroup(
        chat_id=row.chat_id,
        title=row.title,
        protected_by=row.protected_by,
        # A row added in this session still holds the value as it was assigned.
        protected_at=as_utc(row.protected_at),
        enabled=row.enabled,
        settings=GroupSettings(
            action=GateAction(row.action),
            prompt_ttl=row.prompt_ttl,
            mute_seconds=row.mute_seconds,
            delete_channel_posts=row.delete_channel_posts,
            raid=RaidMode(row.raid_mode),
            raid_threshold=row.raid_threshold,
            warn_limit=row.warn_limit,
            escalation=GateAction(row.escalation),
            verify_timeout=row.verify_timeout,
            mode=ChannelMode(row.channel_mode),
            dry_run=row.dry_run,
            prompt_text=row.prompt_text,
            joined_label=row.joined_label,
            join_label=row.join_label,
            config_rights=ConfigRights(row.config_rights),
        ),
        channels=tuple(channels),
        linked_chat_id=row.linked_chat_id,
        missing_rights=tuple(r for r in row.missing_rights.split(_RIGHTS_SEPARATOR) if r),
    )
