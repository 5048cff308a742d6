"""Every group setting once: how `/settings <key> <value>` parses it, how it is shown,
and which values the inline panel offers. The text form and the panel both go
through `apply_setting`, so they accept and refuse exactly the same things.

Messages are plain text (the caller escapes them for HTML parse mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from gmbot.domain.models import (
    ESCALATIONS,
    ChannelMode,
    ConfigRights,
    GateAction,
    GroupSettings,
    RaidMode,
)


class SettingsError(ValueError):
    """A setting that cannot be applied; the text is shown to the admin."""


ON = frozenset({"on", "yes", "true", "1"})
OFF = frozenset({"off", "no", "false", "0"})
RAID_THRESHOLDS = range(2, 1001)
PROMPT_TTL_RANGE = (10, 86400)
MUTE_RANGE = (30, 366 * 86400)  # Telegram: shorter or longer counts as forever
TIMEOUT_RANGE = (60, 7 * 86400)  # a minute to a week
TIMEOUT_OFF = OFF | {"never", "none"}
# The actions the gate carries out (services/gate.py and services/action_handlers.py).
OFFERED_ACTIONS = (
    GateAction.DELETE,
    GateAction.MUTE,
    GateAction.KICK,
    GateAction.BAN,
    GateAction.WARN,
)
# Warnings before the escalation: one would be no warning at all.
WARN_LIMITS = range(2, 11)


QUOTE_MAX = 40  # what an error repeats of the admin's input


def quoted(text: str) -> str:
    """What the admin typed, cut short: an error repeating 4000 characters would itself
    be too long for Telegram (4096 once the rest of the reply is added)."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


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
            f"“{quoted(text)}” is not a duration: use e.g. 90, 90s, 15m, 2h or 1d."
        ) from None


def format_duration(seconds: int) -> str:
    """The shortest exact form: 90s, 15m, 2h, 1d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _on_off(key: str, value: str, meaning: str) -> bool:
    low = value.strip().lower()
    if low in ON:
        return True
    if low in OFF:
        return False
    raise SettingsError(f"{key} must be “on” ({meaning}) or “off”.")


def _one_of(value: str, allowed: Iterable[StrEnum], refusal: str) -> str:
    """The value, lower-cased, if it names one of `allowed`; else `refusal` is raised."""
    low = value.strip().lower()
    if low not in {a.value for a in allowed}:
        raise SettingsError(refusal)
    return low


def _within(seconds: int, bounds: tuple[int, int], what: str) -> int:
    low, high = bounds
    if not low <= seconds <= high:
        raise SettingsError(
            f"{what} must be between {format_duration(low)} and {format_duration(high)}."
        )
    return seconds


def _action(s: GroupSettings, value: str) -> GroupSettings:
    low = _one_of(
        value,
        OFFERED_ACTIONS,
        "action must be “delete” (remove the message only), “mute” (remove it, mute "
        "the sender and prompt them), “kick” (remove it and the sender, who may come "
        "back once subscribed), “ban” (remove it and ban the sender) or “warn” "
        "(remove it and warn the sender; the last warning applies the escalation).",
    )
    return replace(s, action=GateAction(low))


def _warnings(s: GroupSettings, value: str) -> GroupSettings:
    low = value.strip()
    first, last = WARN_LIMITS.start, WARN_LIMITS.stop - 1
    if not low.isdigit() or int(low) not in WARN_LIMITS:
        raise SettingsError(
            f"warnings must be a number from {first} to {last}: the offence that gets the "
            "escalation (with action “warn”), e.g. “warnings 3”."
        )
    return replace(s, warn_limit=int(low))


def _escalation(s: GroupSettings, value: str) -> GroupSettings:
    low = _one_of(
        value,
        ESCALATIONS,
        "escalation must be “mute”, “kick” or “ban”: what the last warning does "
        "(with action “warn”).",
    )
    return replace(s, escalation=GateAction(low))


def _dry_run(s: GroupSettings, value: str) -> GroupSettings:
    meaning = "record what the gate would do, and do nothing"
    return replace(s, dry_run=_on_off("dryrun", value, meaning))


def _mode(s: GroupSettings, value: str) -> GroupSettings:
    low = _one_of(
        value,
        ChannelMode,
        "mode must be “all” (subscribed to every linked channel) or “any” (to at least one).",
    )
    return replace(s, mode=ChannelMode(low))


def _prompt_ttl(s: GroupSettings, value: str) -> GroupSettings:
    seconds = _within(parse_duration(value), PROMPT_TTL_RANGE, "the prompt lifetime")
    return replace(s, prompt_ttl=seconds)


def _mute(s: GroupSettings, value: str) -> GroupSettings:
    if value.strip().lower() in OFF | {"forever", "until-verified"}:
        return replace(s, mute_seconds=None)
    seconds = _within(parse_duration(value), MUTE_RANGE, "the mute length")
    return replace(s, mute_seconds=seconds)


def _timeout(s: GroupSettings, value: str) -> GroupSettings:
    """How long a gated member has to verify before they are removed, or off."""
    if value.strip().lower() in TIMEOUT_OFF:
        return replace(s, verify_timeout=None)
    try:
        seconds = parse_duration(value)
    except SettingsError:
        # The value is not quoted back: it may be as long as a message.
        raise SettingsError(
            "timeout must be a duration (e.g. 10m, 1h or 1d) or “off” (never remove)."
        ) from None
    return replace(s, verify_timeout=_within(seconds, TIMEOUT_RANGE, "the verification timeout"))


def _channel_posts(s: GroupSettings, value: str) -> GroupSettings:
    meaning = "delete messages sent as other channels"
    return replace(s, delete_channel_posts=_on_off("channelposts", value, meaning))


def _raid(s: GroupSettings, value: str) -> GroupSettings:
    """`auto`, `auto N`, `N` (auto at N members a minute), `on` or `off`."""
    words = value.lower().split()
    if words and words[0].isdigit():
        words = ["auto", *words]
    if not words or words[0] not in {m.value for m in RaidMode} or len(words) > 2:
        raise SettingsError(
            "raid must be “auto” (a shared notice once N members are gated within a "
            "minute; “auto 5” sets N), “on” (always the shared notice) or “off”."
        )
    mode = RaidMode(words[0])
    if len(words) == 1:
        return replace(s, raid=mode)
    if mode is not RaidMode.AUTO or not words[1].isdigit():
        raise SettingsError("only “auto” takes a number: e.g. “raid auto 5”.")
    threshold = int(words[1])
    if threshold not in RAID_THRESHOLDS:
        raise SettingsError(
            f"the raid threshold must be between {RAID_THRESHOLDS.start} and "
            f"{RAID_THRESHOLDS.stop - 1} members a minute."
        )
    return replace(s, raid=mode, raid_threshold=threshold)


def _admins(s: GroupSettings, value: str) -> GroupSettings:
    low = _one_of(
        value,
        ConfigRights,
        "admins must be “all” (any admin), “restrict” (admins who may restrict "
        "members) or “creator” (the group's owner only).",
    )
    return replace(s, config_rights=ConfigRights(low))


def _show_action(s: GroupSettings) -> str:
    return s.action.value


def _show_mute(s: GroupSettings) -> str:
    return format_duration(s.mute_seconds) if s.mute_seconds else "until verified"


def _show_raid(s: GroupSettings) -> str:
    return f"auto {s.raid_threshold}" if s.raid is RaidMode.AUTO else s.raid.value


RESET = "reset"  # a free-text setting back to its default


def _prompt_text(s: GroupSettings, value: str) -> GroupSettings:
    """The prompt's template (HTML, placeholders), checked by services/prompt_template."""
    from gmbot.services import prompt_template  # it raises SettingsError from here

    if value.strip().lower() == RESET:
        return replace(s, prompt_text=None)
    return replace(s, prompt_text=prompt_template.check_template(value))


def _joined_label(s: GroupSettings, value: str) -> GroupSettings:
    from gmbot.services import prompt_template

    if value.strip().lower() == RESET:
        return replace(s, joined_label=None)
    return replace(s, joined_label=prompt_template.check_label(value))


def _join_label(s: GroupSettings, value: str) -> GroupSettings:
    from gmbot.services import prompt_template

    if value.strip().lower() == RESET:
        return replace(s, join_label=None)
    return replace(s, join_label=prompt_template.check_label(value, ("channel",)))


@dataclass(frozen=True, slots=True)
class SettingSpec:
    key: str  # /settings <key> <value>
    usage: str  # what the value may be, for help texts
    apply: Callable[[GroupSettings, str], GroupSettings]
    show: Callable[[GroupSettings], str]  # the current value, short plain text
    # The values the panel offers, in the text form's own words ("" : text form only).
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


def _yes_no(attr: str) -> Callable[[GroupSettings], str]:
    return lambda s: "on" if getattr(s, attr) else "off"


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "action",
        "|".join(a.value for a in OFFERED_ACTIONS),
        _action,
        _show_action,
        tuple(a.value for a in OFFERED_ACTIONS),
    ),
    SettingSpec(
        "warnings",
        f"{WARN_LIMITS.start}..{WARN_LIMITS.stop - 1}",
        _warnings,
        lambda s: str(s.warn_limit),
        ("2", "3", "5", "10"),
        ("warn_limit",),
    ),
    SettingSpec(
        "escalation",
        "|".join(a.value for a in ESCALATIONS),
        _escalation,
        lambda s: s.escalation.value,
        tuple(a.value for a in ESCALATIONS),
    ),
    SettingSpec("dryrun", "on|off", _dry_run, _yes_no("dry_run"), ("on", "off"), ("dry_run",)),
    SettingSpec("mode", "all|any", _mode, lambda s: s.mode.value, ("all", "any")),
    SettingSpec(
        "prompt",
        "<duration>",
        _prompt_ttl,
        lambda s: format_duration(s.prompt_ttl),
        ("30s", "1m", "2m", "5m", "15m"),
    ),
    SettingSpec("mute", "<duration>|off", _mute, _show_mute, ("off", "10m", "1h", "1d", "7d")),
    SettingSpec(
        "timeout",
        "<duration>|off",
        _timeout,
        lambda s: format_duration(s.verify_timeout) if s.verify_timeout else "off",
        ("off", "5m", "10m", "30m", "1h"),
        ("verify_timeout",),
    ),
    SettingSpec(
        "channelposts",
        "on|off",
        _channel_posts,
        _yes_no("delete_channel_posts"),
        ("on", "off"),
        ("channel_posts",),
    ),
    SettingSpec(
        "raid", "auto [N]|on|off", _raid, _show_raid, ("auto 3", "auto 5", "auto 10", "on", "off")
    ),
    SettingSpec(
        "admins",
        "all|restrict|creator",
        _admins,
        lambda s: s.config_rights.value,
        tuple(r.value for r in ConfigRights),
    ),
    SettingSpec(
        "text",
        "<prompt text: HTML with {mention} {name} {channels} {group} {timeout}>|reset",
        _prompt_text,
        lambda s: "custom" if s.prompt_text else "default",
        aliases=("prompt_text",),
    ),
    SettingSpec(
        "button",
        "<label of the “I've joined” button>|reset",
        _joined_label,
        lambda s: s.joined_label or "default",
        aliases=("joined_label",),
    ),
    SettingSpec(
        "joinbutton",
        "<label of each Join button, with {channel}>|reset",
        _join_label,
        lambda s: s.join_label or "default",
        aliases=("join_label",),
    ),
)
BY_KEY = {name: spec for spec in SETTINGS for name in (spec.key, *spec.aliases)}


def spec_for(key: str) -> SettingSpec:
    spec = BY_KEY.get(key.lower())
    if spec is None:
        known = ", ".join(s.key for s in SETTINGS)
        raise SettingsError(f"Unknown setting “{quoted(key)}”. The settings are: {known}.")
    return spec


def apply_setting(settings: GroupSettings, key: str, value: str) -> GroupSettings:
    return spec_for(key).apply(settings, value)


def usage() -> str:
    """Every setting with its values, one per line, plain text."""
    return "\n".join(f"/settings {s.key} {s.usage}" for s in SETTINGS)
