"""ChatPermissions and administrator rights, with Telegram's implication rules.

Field lists follow the Bot API schema (api.json) and its overlay (data/overlay.json); tests
check them against both.
"""

from __future__ import annotations

from typing import Any

from .overlay import added_field_names

PERMISSION_FIELDS: tuple[str, ...] = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
MEDIA_PERMISSIONS: tuple[str, ...] = (
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
)
# Permissions that, when omitted, default to another one (per the field descriptions).
_OMITTED_DEFAULTS = {
    "can_react_to_messages": "can_send_messages",
    "can_edit_tag": "can_pin_messages",
    "can_manage_topics": "can_pin_messages",
}

# Rights every administrator object carries, and the optional ones by chat type.
ADMIN_RIGHTS: tuple[str, ...] = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
CHANNEL_ADMIN_RIGHTS = ("can_post_messages", "can_edit_messages", "can_manage_direct_messages")
GROUP_ADMIN_RIGHTS = ("can_pin_messages", "can_manage_tags")
FORUM_ADMIN_RIGHTS = ("can_manage_topics",)

# Which permission a kind of media needs when a user posts it.
MEDIA_KIND_PERMISSION = {
    "photo": "can_send_photos",
    "video": "can_send_videos",
    "document": "can_send_documents",
    "audio": "can_send_audios",
    "voice": "can_send_voice_notes",
    "video_note": "can_send_video_notes",
    "sticker": "can_send_other_messages",
    "animation": "can_send_other_messages",
    "poll": "can_send_polls",
}


def all_permissions(value: bool = True) -> dict[str, bool]:
    return dict.fromkeys(PERMISSION_FIELDS, value)


def normalize_permissions(raw: dict[str, Any], independent: bool) -> dict[str, bool]:
    """Turn a (possibly partial) ChatPermissions object into a full one as Telegram reads it."""
    perms = {name: bool(raw[name]) for name in PERMISSION_FIELDS if name in raw}
    for name in PERMISSION_FIELDS:
        if name not in perms and name not in _OMITTED_DEFAULTS:
            perms[name] = False
    for name, source in _OMITTED_DEFAULTS.items():
        perms.setdefault(name, perms[source])
    if not independent:
        # Legacy semantics: "other messages" and previews imply text and all media; polls imply
        # text.
        if perms["can_send_other_messages"] or perms["can_add_web_page_previews"]:
            perms["can_send_messages"] = True
            for name in MEDIA_PERMISSIONS:
                perms[name] = True
        if perms["can_send_polls"]:
            perms["can_send_messages"] = True
    return {name: perms[name] for name in PERMISSION_FIELDS}


def grants_at_least(perms: dict[str, bool], defaults: dict[str, bool]) -> bool:
    """True if `perms` takes away nothing the chat's default permissions allow."""
    return all(
        perms.get(name, False) or not defaults.get(name, False) for name in PERMISSION_FIELDS
    )


def effective(perms: dict[str, bool], defaults: dict[str, bool], name: str) -> bool:
    """A restricted member may do something only if both they and the chat allow it."""
    return perms.get(name, False) and defaults.get(name, False)


def admin_right_names(chat_type: str, is_forum: bool) -> tuple[str, ...]:
    # Rights newer than the bundled schema that aiogram requires (data/overlay.json).
    names = ADMIN_RIGHTS + tuple(
        name for name in added_field_names("ChatMemberAdministrator") if name.startswith("can_")
    )
    if chat_type == "channel":
        names += CHANNEL_ADMIN_RIGHTS
    else:
        names += GROUP_ADMIN_RIGHTS
        if chat_type == "supergroup" and is_forum:
            names += FORUM_ADMIN_RIGHTS
    return names


def default_admin_rights(chat_type: str, is_forum: bool) -> dict[str, bool]:
    """Rights Telegram's apps preselect when promoting: everything but adding new admins."""
    rights = dict.fromkeys(admin_right_names(chat_type, is_forum), True)
    rights["can_promote_members"] = False
    return rights


def build_admin_rights(
    chat_type: str, is_forum: bool, given: dict[str, Any], *, fill: bool
) -> dict[str, bool]:
    """Rights for a new administrator: `given` overrides; others are the preselection when
    `fill` (control API convenience) or False (promoteChatMember semantics)."""
    names = admin_right_names(chat_type, is_forum)
    base = default_admin_rights(chat_type, is_forum) if fill else dict.fromkeys(names, False)
    for name in names:
        if name in given:
            base[name] = bool(given[name])
    # Any administrator can see the member list and the event log.
    base["can_manage_chat"] = True
    return base
