"""Plain value objects shared by services, adapters and fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class GateAction(StrEnum):
    """What the gate does to a member who is not subscribed."""

    DELETE = "delete"  # delete only
    MUTE = "mute"  # delete the message and restrict the sender until verified
    KICK = "kick"  # delete, prompt, remove from the group (ban + unban: may come back)
    BAN = "ban"  # delete and ban
    WARN = "warn"  # delete and prompt; the Nth offence applies the escalation action


# What the Nth warning escalates to (warn itself is not one of them).
ESCALATIONS = (GateAction.MUTE, GateAction.KICK, GateAction.BAN)


class ChannelMode(StrEnum):
    ALL = "all"  # subscribed to every linked channel
    ANY = "any"  # subscribed to at least one


class ConfigRights(StrEnum):
    """Who may configure GMBot in a group (the bot's operators always may)."""

    ALL = "all"  # any admin
    RESTRICT = "restrict"  # admins with the right to restrict members
    CREATOR = "creator"  # the group's owner only


class RaidMode(StrEnum):
    AUTO = "auto"  # a raid starts when enough members are gated within a minute
    ON = "on"  # always the shared notice, never per-member prompts
    OFF = "off"  # always per-member prompts


class AuditKind(StrEnum):
    PROTECT = "protect"
    UNPROTECT = "unprotect"
    MUTE = "mute"
    UNMUTE = "unmute"
    VERIFY = "verify"
    EXEMPT = "exempt"
    UNEXEMPT = "unexempt"
    RIGHTS_LOST = "rights_lost"
    BOT_REMOVED = "bot_removed"
    MIGRATE = "migrate"
    POISON_UPDATE = "poison_update"
    RAID_START = "raid_start"
    RAID_END = "raid_end"
    ACTION_REFUSED = "action_refused"  # Telegram refused an action for good (detail: why)
    ACTION_GIVEN_UP = "action_given_up"  # still failing after every retry
    MUTE_REPAIRED = "mute_repaired"  # the reconciler fixed a mismatch with Telegram
    WARN = "warn"  # a warning given (detail: "k/N")
    KICK = "kick"  # removed from the group by the gate (may come back)
    BAN = "ban"  # banned by the gate
    TIMEOUT_REMOVED = "timeout_removed"  # not verified in time: removed from the group
    DRY_RUN = "dry_run"  # what the gate would have done (detail: the action), nothing done
    SETTINGS = "settings"  # a setting changed (detail: "key=value")


@dataclass(frozen=True, slots=True)
class GroupSettings:
    action: GateAction = GateAction.MUTE
    prompt_ttl: int = 60  # seconds the prompt stays before it is deleted
    mute_seconds: int | None = None  # None: muted until verified
    delete_channel_posts: bool = True  # messages sent as another channel
    raid: RaidMode = RaidMode.AUTO
    # Distinct members gated within a minute that start a raid (auto mode). Three
    # keeps at most two per-member prompts on screen before the shared notice.
    raid_threshold: int = 3
    warn_limit: int = 3  # the offence that escalates, with action WARN
    escalation: GateAction = GateAction.MUTE  # what the warn_limit-th offence gets
    verify_timeout: int | None = None  # seconds to verify before removal; None: never
    mode: ChannelMode = ChannelMode.ALL
    dry_run: bool = False  # decide, record and count; delete, mute and prompt nothing
    prompt_text: str | None = None  # the admins' template (HTML); None: the default
    joined_label: str | None = None  # the "I've joined" button's label; None: the default
    join_label: str | None = None  # the Join button's label, "{channel}" in it
    config_rights: ConfigRights = ConfigRights.ALL

    @property
    def raid_start_at(self) -> int:
        """RaidWatch's threshold: 0 never, 1 at the first gated member."""
        if self.raid is RaidMode.OFF:
            return 0
        return 1 if self.raid is RaidMode.ON else self.raid_threshold


@dataclass(frozen=True, slots=True)
class LinkedChannel:
    channel_id: int
    title: str
    username: str | None = None
    invite_link: str | None = None
    bot_is_admin: bool = True  # False once the bot lost admin in the channel

    @property
    def join_url(self) -> str | None:
        if self.username:
            return f"https://t.me/{self.username}"
        return self.invite_link

    @property
    def display(self) -> str:
        return f"@{self.username}" if self.username else self.title


@dataclass(frozen=True, slots=True)
class ProtectedGroup:
    chat_id: int
    title: str
    protected_by: int | None
    protected_at: datetime
    enabled: bool = True
    settings: GroupSettings = field(default_factory=GroupSettings)
    channels: tuple[LinkedChannel, ...] = ()
    # The group's own discussion channel: its automatic forwards always pass.
    linked_chat_id: int | None = None
    # Rights the bot is missing in the group, as last observed ("" when fine).
    missing_rights: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.channels)

    def channel(self, channel_id: int) -> LinkedChannel | None:
        return next((c for c in self.channels if c.channel_id == channel_id), None)


class MuteState(StrEnum):
    """Where a mute of GMBot's stands. The record is written before Telegram is asked,
    so a restriction GMBot applied always has a record saying it is GMBot's own."""

    INTENT = "intent"  # recorded, restrictChatMember not confirmed (may or may not apply)
    ACTIVE = "active"  # Telegram confirmed the restriction


@dataclass(frozen=True, slots=True)
class Restriction:
    """A mute GMBot itself applied (or is applying); only these are ever lifted by GMBot."""

    chat_id: int
    user_id: int
    created_at: datetime
    until: datetime | None = None
    state: MuteState = MuteState.ACTIVE
    # Last time the record was worked on: the intent written or retried, or the
    # reconciler comparing it with Telegram. None: never (a record from before 0003).
    checked_at: datetime | None = None

    @property
    def is_intent(self) -> bool:
        return self.state is MuteState.INTENT

    def in_force(self, now: datetime) -> bool:
        """Telegram may hold the restriction now: an intent (it cannot be told whether
        Telegram applied it), or a confirmed mute that has not run out."""
        return self.is_intent or self.until is None or self.until > now


@dataclass(frozen=True, slots=True)
class AuditEntry:
    kind: AuditKind
    chat_id: int
    user_id: int | None = None
    actor_id: int | None = None
    detail: str = ""
    created_at: datetime | None = None  # filled by the repository when None


@dataclass(frozen=True, slots=True)
class Stats:
    groups_enabled: int
    groups_total: int
    channel_links: int
    active_mutes: int
    audit_by_kind: dict[str, int]
