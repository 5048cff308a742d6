"""Texts the services send to Telegram themselves (prompts, notices). HTML."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from gmbot.domain.models import LinkedChannel
from gmbot.domain.telegram import Button, Keyboard

JOINED_BUTTON = "✅ I've joined"
CALLBACK_PREFIX = "gmv"  # gmv:<user id>: the "I've joined" button of a prompt


def mention(user_id: int, name: str) -> str:
    return f'<a href="tg://user?id={user_id}">{escape(name or "member")}</a>'


def channel_list(channels: Iterable[LinkedChannel]) -> str:
    return escape(channel_names(channels))


def channel_names(channels: Iterable[LinkedChannel]) -> str:
    """Plain text, for alerts (which do not render HTML)."""
    return ", ".join(c.display for c in channels)


def prompt(user_id: int, name: str, missing: list[LinkedChannel], muted: bool) -> str:
    what = "join" if len(missing) == 1 else "join each of"
    text = (
        f"{mention(user_id, name)}, to write in this group please {what} "
        f"{channel_list(missing)}, then press “{JOINED_BUTTON}”."
    )
    if not muted:
        text += "\nYour message was removed."
    return text


def prompt_keyboard(user_id: int, missing: list[LinkedChannel]) -> Keyboard:
    rows: Keyboard = []
    for channel in missing:
        url = channel.join_url
        if url:
            rows.append([Button(text=f"Join {channel.display}", url=url)])
    rows.append([Button(text=JOINED_BUTTON, callback_data=f"{CALLBACK_PREFIX}:{user_id}")])
    return rows


def rights_warning(missing: Iterable[str]) -> str:
    names = ", ".join(r.removeprefix("can_").replace("_", " ") for r in missing)
    return f"⚠️ Admins: I lost rights I need here ({escape(names)}). Please restore them."


def fail_open_notice(title: str) -> str:
    return (
        f"⚠️ GMBot could not check channel membership in <b>{escape(title)}</b> "
        "(Telegram did not answer, or I am no longer an admin of a linked channel). "
        "Messages are let through meanwhile. Check /status in the group."
    )


def rights_lost_notice(title: str, missing: Iterable[str], where: str) -> str:
    names = ", ".join(r.removeprefix("can_").replace("_", " ") for r in missing)
    return (
        f"⚠️ GMBot lost rights it needs in {escape(where)} (group <b>{escape(title)}</b>): "
        f"{escape(names)}. Protection cannot work until they are restored."
    )


EVERYONE = 0  # the subject of the raid notice's button: whoever presses it


def raid_notice(gated: int, channels: list[LinkedChannel]) -> str:
    who = "1 member" if gated == 1 else f"{gated} members"
    return (
        f"🛡 Many new messages from people who have not joined {channel_list(channels)}: "
        f"they were removed. {who} must join {channel_list(channels)} to write here, "
        f"then press “{JOINED_BUTTON}”."
    )


def raid_keyboard(channels: list[LinkedChannel]) -> Keyboard:
    return prompt_keyboard(EVERYONE, channels)


def raid_started_report(title: str, gated: int) -> str:
    return (
        f"🛡 Raid in <b>{escape(title)}</b>: {gated} members who have not joined the linked "
        "channels posted within a minute. Their messages are removed and they are muted; "
        "one shared notice replaces the per-member prompts until things calm down."
    )


def raid_ended_report(title: str, gated: int, seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"✅ The raid in <b>{escape(title)}</b> is over after about {minutes} min: "
        f"{gated} members were gated. Per-member prompts are back."
    )
