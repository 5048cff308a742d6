"""The words for a refused configuration attempt, HTML-safe for parse_mode=HTML."""

from __future__ import annotations

from html import escape

from gmbot.services.admin_check import Permission, Refusal

_TEXTS: dict[Refusal, str] = {
    Refusal.NOT_ADMIN: "Only the group's admins can configure GMBot here.",
    Refusal.LACKS_RESTRICT: (
        'In this group only admins with the "Ban users" right can configure GMBot.'
    ),
    Refusal.NOT_CREATOR: "In this group only the group's owner can configure GMBot.",
    Refusal.ANONYMOUS: (
        "You are posting anonymously, so GMBot cannot see your admin rights, and this "
        'group lets only {who} configure it. Turn off "Remain anonymous" and send the '
        "command again, or use /settings in a private chat with the bot."
    ),
    Refusal.CHECK_FAILED: "Could not check your admin rights with Telegram; please try again.",
}

_WHO = {
    "restrict": 'admins with the "Ban users" right',
    "creator": "the group's owner",
    "all": "admins",
}


def refusal_text(permission: Permission) -> str | None:
    """The refusal to show, HTML-escaped; None when the actor is allowed."""
    if permission.refusal is None:
        return None
    text = _TEXTS[permission.refusal].format(who=_WHO[permission.policy.value])
    return escape(text, quote=False)
