"""Texts the services send to Telegram themselves (prompts, notices). HTML."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

from gmbot.domain.models import (
    ChannelMode,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.telegram import Button, Keyboard

JOINED_BUTTON = "✅ I've joined"
CALLBACK_PREFIX = "gmv"  # gmv:<user id>: the "I've joined" button of a prompt
PREVIEW_PREFIX = "gmp"  # gmp:<user id>: the same button in an admin's preview: verifies nobody
BUTTON_TEXT_MAX = 64  # GMBot's own limit on a button's label (long labels are cut off)


def mention(user_id: int, name: str) -> str:
    return f'<a href="tg://user?id={user_id}">{escape(name or "member")}</a>'


def channel_list(channels: Iterable[LinkedChannel]) -> str:
    return escape(channel_names(channels))


def channel_names(channels: Iterable[LinkedChannel]) -> str:
    """Plain text, for alerts (which do not render HTML)."""
    return ", ".join(c.display for c in channels)


@dataclass(frozen=True, slots=True)
class PromptContext:
    """What happened to the member the prompt is for."""

    muted: bool = True  # restricted until verified (else: only the message was removed)
    warning: tuple[int, int] | None = None  # (k, N): warning k of N; the Nth escalates
    removed: bool = False  # removed from the group (kick: they may come back)


ESCALATION_WORDS = {
    GateAction.MUTE: "muted",
    GateAction.KICK: "removed from the group",
    GateAction.BAN: "banned from the group",
    GateAction.DELETE: "left with your messages removed",
    GateAction.WARN: "warned again",
}


def human_duration(seconds: int) -> str:
    """10 min, 2 h, 1 day, 90 s: for members, not for the text form of the settings."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return "1 day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def join_what(settings: GroupSettings, missing: list[LinkedChannel]) -> str:
    if len(missing) == 1:
        return "join"
    return "join one of" if settings.mode is ChannelMode.ANY else "join each of"


def prompt(
    group: ProtectedGroup,
    user_id: int,
    name: str,
    missing: list[LinkedChannel],
    context: PromptContext,
    *,
    joined_label: str = JOINED_BUTTON,
) -> str:
    """The default prompt: the request, then what happened to the member."""
    s = group.settings
    if context.removed:
        text = (
            f"{mention(user_id, name)}, you were removed from this group because you have "
            f"not joined {channel_list(missing)}. You may come back after you "
            f"{join_what(s, missing)} {channel_list(missing)}."
        )
    else:
        text = (
            f"{mention(user_id, name)}, to write in this group please {join_what(s, missing)} "
            f"{channel_list(missing)}, then press “{escape(joined_label, quote=False)}”."
        )
    return "\n".join([text, *prompt_facts(group, context, body_has_removal=True)])


def timeout_sentence(seconds: int) -> str:
    return f"Verify within {human_duration(seconds)} or you will be removed from the group."


def prompt_facts(
    group: ProtectedGroup,
    context: PromptContext,
    *,
    body_has_removal: bool = False,
    body_has_timeout: bool = False,
) -> list[str]:
    """Lines (HTML) telling the member what happened and what happens next. They
    follow the default text and an admin's template alike: a template cannot hide
    a warning, a removal or the verification deadline."""
    s = group.settings
    lines: list[str] = []
    if context.warning is not None:
        k, n = context.warning
        if k < n:
            lines.append(
                f"⚠️ Warning {k} of {n}: at warning {n} you will be "
                f"{ESCALATION_WORDS[s.escalation]}."
            )
        else:
            lines.append(f"⚠️ Warning {k} of {n}: this was your last warning.")
    if context.removed:
        if not body_has_removal:
            lines.append("You were removed from the group. You may come back after joining.")
    else:
        if not context.muted:
            lines.append("Your message was removed.")
        if s.verify_timeout and not body_has_timeout:
            lines.append(timeout_sentence(s.verify_timeout))
    return lines


def join_button_label(channel: LinkedChannel) -> str:
    return f"Join {channel.display}"


def prompt_keyboard(
    user_id: int,
    missing: list[LinkedChannel],
    *,
    joined_label: str = JOINED_BUTTON,
    join_label: Callable[[LinkedChannel], str] = join_button_label,
    prefix: str = CALLBACK_PREFIX,
    joined_button: bool = True,
) -> Keyboard:
    """A Join button per channel with a link (`join_label` names it), then the "I've
    joined" button (`prefix`:<user id>) unless `joined_button` is False."""
    rows: Keyboard = []
    for channel in missing:
        url = channel.join_url
        if url:
            rows.append([Button(text=join_label(channel)[:BUTTON_TEXT_MAX], url=url)])
    if joined_button:
        rows.append([Button(text=joined_label, callback_data=f"{prefix}:{user_id}")])
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


def raid_notice(
    gated: int, channels: list[LinkedChannel], joined_label: str = JOINED_BUTTON
) -> str:
    who = "1 member" if gated == 1 else f"{gated} members"
    return (
        f"🛡 Many new messages from people who have not joined {channel_list(channels)}: "
        f"they were removed. {who} must join {channel_list(channels)} to write here, "
        f"then press “{escape(joined_label, quote=False)}”."
    )


def raid_keyboard(
    channels: list[LinkedChannel],
    *,
    joined_label: str = JOINED_BUTTON,
    join_label: Callable[[LinkedChannel], str] = join_button_label,
) -> Keyboard:
    return prompt_keyboard(EVERYONE, channels, joined_label=joined_label, join_label=join_label)


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
