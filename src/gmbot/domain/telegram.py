"""Telegram facts as the services see them, free of aiogram types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChatType(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class MemberStatus(StrEnum):
    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    RESTRICTED = "restricted"
    LEFT = "left"
    KICKED = "kicked"


# Every ChatPermissions field, in the Bot API's order (tests compare it with api.json): a
# mute switches all of them off, an unmute restores all of them from the group's defaults.
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
# Documented defaults of permissions left out of a ChatPermissions object; any other
# omitted permission is False.
OMITTED_PERMISSION_DEFAULTS: dict[str, str] = {
    "can_react_to_messages": "can_send_messages",
    "can_edit_tag": "can_pin_messages",
    "can_manage_topics": "can_pin_messages",
}

Permissions = dict[str, bool]

# Message content a member posts (aiogram's content types); everything else in a
# group is a service message, which the gate ignores.
USER_CONTENT_TYPES = frozenset(
    {
        "text", "animation", "audio", "document", "live_photo", "paid_media", "photo",
        "sticker", "story", "video", "video_note", "voice", "checklist", "contact", "dice",
        "game", "poll", "venue", "location", "invoice", "giveaway", "rich_message", "unknown",
    }
)  # fmt: skip

MUTED: Permissions = dict.fromkeys(PERMISSION_FIELDS, False)


def complete_permissions(perms: Permissions) -> Permissions:
    """Every permission with the value Telegram reads from `perms` (use_independent_chat_
    permissions, so none implies another); fields GMBot does not know are kept as they are."""
    full = {name: bool(perms[name]) for name in PERMISSION_FIELDS if name in perms}
    for name in PERMISSION_FIELDS:
        if name not in full and name not in OMITTED_PERMISSION_DEFAULTS:
            full[name] = False
    for name, source in OMITTED_PERMISSION_DEFAULTS.items():
        full.setdefault(name, full[source])
    ordered = {name: full[name] for name in PERMISSION_FIELDS}
    return ordered | {k: bool(v) for k, v in perms.items() if k not in ordered}


@dataclass(frozen=True, slots=True)
class ChatInfo:
    id: int
    type: ChatType
    title: str
    username: str | None = None
    invite_link: str | None = None
    linked_chat_id: int | None = None
    is_forum: bool = False
    permissions: Permissions | None = None

    @property
    def is_channel(self) -> bool:
        return self.type is ChatType.CHANNEL


@dataclass(frozen=True, slots=True)
class MemberInfo:
    user_id: int
    status: MemberStatus
    is_member: bool = False  # meaningful for RESTRICTED only
    is_bot: bool = False
    rights: frozenset[str] = field(default_factory=frozenset)  # admin can_* rights held
    until: datetime | None = None
    can_send_messages: bool = True  # False only for a RESTRICTED member who may not post

    @property
    def is_muted(self) -> bool:
        """Restricted from posting: what GMBot's mute does (another restriction is not)."""
        return self.status is MemberStatus.RESTRICTED and not self.can_send_messages

    @property
    def is_admin(self) -> bool:
        return self.status in (MemberStatus.CREATOR, MemberStatus.ADMINISTRATOR)

    @property
    def is_subscribed(self) -> bool:
        """Counts as a member of a channel for the gate."""
        if self.status in (MemberStatus.CREATOR, MemberStatus.ADMINISTRATOR, MemberStatus.MEMBER):
            return True
        return self.status is MemberStatus.RESTRICTED and self.is_member

    def has_right(self, right: str) -> bool:
        return self.status is MemberStatus.CREATOR or right in self.rights


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str
    first_name: str


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    url: str | None = None
    callback_data: str | None = None


Keyboard = list[list[Button]]


class ScopeType(StrEnum):
    """The BotCommandScope types GMBot sets commands for (user-specific chat_member is not
    used)."""

    DEFAULT = "default"
    ALL_PRIVATE_CHATS = "all_private_chats"
    ALL_GROUP_CHATS = "all_group_chats"
    ALL_CHAT_ADMINISTRATORS = "all_chat_administrators"
    CHAT = "chat"
    CHAT_ADMINISTRATORS = "chat_administrators"


_CHAT_SCOPES = (ScopeType.CHAT, ScopeType.CHAT_ADMINISTRATORS)


@dataclass(frozen=True, slots=True)
class CommandScope:
    """Where a command list applies (Telegram's BotCommandScope); chat scopes name a chat."""

    type: ScopeType = ScopeType.DEFAULT
    chat_id: int | None = None

    def __post_init__(self) -> None:
        if (self.type in _CHAT_SCOPES) != (self.chat_id is not None):
            raise ValueError(f"command scope {self.type} takes a chat_id only if it names a chat")

    @classmethod
    def chat(cls, chat_id: int) -> CommandScope:
        return cls(ScopeType.CHAT, chat_id)

    @classmethod
    def chat_administrators(cls, chat_id: int) -> CommandScope:
        return cls(ScopeType.CHAT_ADMINISTRATORS, chat_id)

    def as_api(self) -> dict[str, object]:
        """The BotCommandScope object as the Bot API takes it."""
        if self.chat_id is None:
            return {"type": str(self.type)}
        return {"type": str(self.type), "chat_id": self.chat_id}


class TelegramError(Exception):
    """Base of the gateway's errors; `description` is Telegram's text."""

    def __init__(self, description: str, method: str = "") -> None:
        super().__init__(description)
        self.description = description
        self.method = method


class ChatNotFound(TelegramError):
    """The chat or user does not exist or is not visible to the bot."""


class NotEnoughRights(TelegramError):
    """The bot lacks an admin right, or the target cannot be acted on."""


class MemberListInaccessible(TelegramError):
    """getChatMember on a channel where the bot is not an administrator."""


class BotBlocked(TelegramError):
    """403: the bot was kicked, blocked, or may not write to this chat."""


class TelegramUnavailable(TelegramError):
    """Network error, 5xx, or a retry_after longer than the call may wait.

    `outcome_unknown`: a write was sent and not answered (timed out): Telegram may
    still carry it out, so whoever retries looks at the outcome before acting again."""

    def __init__(
        self,
        description: str,
        method: str = "",
        retry_after: float | None = None,
        *,
        outcome_unknown: bool = False,
    ):
        super().__init__(description, method)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class BadRequest(TelegramError):
    """Any other 400."""


class RetryLater(Exception):
    """Telegram asked to wait longer than the current update may still take.

    Deliberately not a TelegramError: services do not swallow it, so it reaches the
    webhook handler, which answers 503 with Retry-After and Telegram redelivers.
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f}s")
        self.retry_after = retry_after


# Why Telegram refused an action for good, as audited and counted (a small, fixed set
# of labels: Telegram's texts vary and would make unbounded metric labels).
_REFUSAL_TEXTS: tuple[tuple[str, str], ...] = (
    ("message to delete not found", "message_gone"),
    ("message can't be deleted", "message_undeletable"),
    ("message to edit not found", "message_gone"),
    ("user is an administrator", "target_is_admin"),
    ("can't remove chat owner", "target_is_admin"),
    ("user not found", "user_gone"),
    ("participant_id_invalid", "user_gone"),
    ("chat not found", "chat_gone"),
    ("bot was kicked", "bot_removed"),
    ("bot is not a member", "bot_removed"),
    ("upgraded to a supergroup", "chat_migrated"),
    ("only for supergroups", "basic_group"),
    ("for supergroup and channel chats only", "basic_group"),
)


def refusal_reason(err: TelegramError) -> str:
    """A short, stable label for a permanent refusal."""
    low = err.description.lower()
    for text, reason in _REFUSAL_TEXTS:
        if text in low:
            return reason
    if isinstance(err, NotEnoughRights):
        return "no_rights"
    if isinstance(err, ChatNotFound):
        return "not_found"
    if isinstance(err, BotBlocked):
        return "forbidden"
    if isinstance(err, MemberListInaccessible):
        return "member_list_inaccessible"
    return "bad_request"
