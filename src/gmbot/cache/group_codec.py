"""ProtectedGroup <-> JSON for the cached copy read by GateCache.get_group.

Explicit on both sides rather than dataclasses.asdict: the cache outlives a deploy, so
decoding tolerates fields an older writer did not know (they take the model default),
and anything it cannot read raises ValueError, which the cache treats as a miss.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gmbot.domain.models import (
    ChannelMode,
    ConfigRights,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    RaidMode,
)


def encode_group(group: ProtectedGroup) -> str:
    settings = group.settings
    return json.dumps(
        {
            "chat_id": group.chat_id,
            "title": group.title,
            "protected_by": group.protected_by,
            "protected_at": group.protected_at.isoformat(),
            "enabled": group.enabled,
            "settings": {
                "action": settings.action.value,
                "prompt_ttl": settings.prompt_ttl,
                "mute_seconds": settings.mute_seconds,
                "delete_channel_posts": settings.delete_channel_posts,
                "raid": settings.raid.value,
                "raid_threshold": settings.raid_threshold,
                "warn_limit": settings.warn_limit,
                "escalation": settings.escalation.value,
                "verify_timeout": settings.verify_timeout,
                "mode": settings.mode.value,
                "dry_run": settings.dry_run,
                "prompt_text": settings.prompt_text,
                "joined_label": settings.joined_label,
                "join_label": settings.join_label,
                "config_rights": settings.config_rights.value,
            },
            "channels": [
                {
                    "channel_id": c.channel_id,
                    "title": c.title,
                    "username": c.username,
                    "invite_link": c.invite_link,
                    "bot_is_admin": c.bot_is_admin,
                }
                for c in group.channels
            ],
            "linked_chat_id": group.linked_chat_id,
            "missing_rights": list(group.missing_rights),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_group(raw: bytes | str) -> ProtectedGroup:
    """Raises ValueError when raw is not a group this codec wrote."""
    try:
        data = json.loads(raw)
        return ProtectedGroup(
            chat_id=int(data["chat_id"]),
            title=str(data["title"]),
            protected_by=data.get("protected_by"),
            protected_at=datetime.fromisoformat(data["protected_at"]),
            enabled=bool(data.get("enabled", True)),
            settings=_settings(data.get("settings") or {}),
            channels=tuple(_channel(c) for c in data.get("channels", ())),
            linked_chat_id=data.get("linked_chat_id"),
            missing_rights=tuple(data.get("missing_rights", ())),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a cached group: {exc!r}") from exc


def _settings(data: dict[str, Any]) -> GroupSettings:
    default = GroupSettings()
    return GroupSettings(
        action=GateAction(data.get("action", default.action)),
        prompt_ttl=int(data.get("prompt_ttl", default.prompt_ttl)),
        mute_seconds=data.get("mute_seconds", default.mute_seconds),
        delete_channel_posts=bool(data.get("delete_channel_posts", default.delete_channel_posts)),
        raid=RaidMode(data.get("raid", default.raid)),
        raid_threshold=int(data.get("raid_threshold", default.raid_threshold)),
        warn_limit=int(data.get("warn_limit", default.warn_limit)),
        escalation=GateAction(data.get("escalation", default.escalation)),
        verify_timeout=data.get("verify_timeout", default.verify_timeout),
        mode=ChannelMode(data.get("mode", default.mode)),
        dry_run=bool(data.get("dry_run", default.dry_run)),
        prompt_text=data.get("prompt_text", default.prompt_text),
        joined_label=data.get("joined_label", default.joined_label),
        join_label=data.get("join_label", default.join_label),
        config_rights=ConfigRights(data.get("config_rights", default.config_rights)),
    )


def _channel(data: dict[str, Any]) -> LinkedChannel:
    return LinkedChannel(
        channel_id=int(data["channel_id"]),
        title=str(data["title"]),
        username=data.get("username"),
        invite_link=data.get("invite_link"),
        bot_is_admin=bool(data.get("bot_is_admin", True)),
    )
