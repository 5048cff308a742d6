"""Plain records of the emulated world: users, bots, chats, memberships, messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Statuses as the Bot API names them.
CREATOR = "creator"
ADMINISTRATOR = "administrator"
MEMBER = "member"
RESTRICTED = "restricted"
LEFT = "left"
KICKED = "kicked"
STATUSES = (CREATOR, ADMINISTRATOR, MEMBER, RESTRICTED, LEFT, KICKED)
ADMIN_STATUSES = (CREATOR, ADMINISTRATOR)

CHAT_TYPES = ("private", "group", "supergroup", "channel")

# Telegram's fixed service accounts: the sender shown for messages sent on behalf of a channel
# and for anonymous group administrators.
CHANNEL_BOT_ID = 136817688
GROUP_ANONYMOUS_BOT_ID = 1087968824


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False
    language_code: str | None = None
    is_premium: bool = False


@dataclass(slots=True)
class BotAccount:
    user: User
    token: str
    can_join_groups: bool = True
    # Privacy mode is on by default for new bots, as with BotFather.
    can_read_all_group_messages: bool = False
    supports_inline_queries: bool = False
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class InviteLink:
    link: str
    creator_id: int
    name: str | None = None
    expire_date: int | None = None
    member_limit: int | None = None
    creates_join_request: bool = False
    is_primary: bool = False
    is_revoked: bool = False


@dataclass(slots=True)
class JoinRequest:
    user_id: int
    date: int
    bio: str | None = None
    invite_link: str | None = None


@dataclass(slots=True)
class Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    permissions: dict[str, bool] = field(default_factory=dict)
    linked_chat_id: int | None = None
    description: str | None = None
    join_by_request: bool = False
    join_to_send_messages: bool = False
    has_hidden_members: bool = False
    has_protected_content: bool = False
    creator_id: int | None = None
    migrated_to: int | None = None
    migrated_from: int | None = None
    topics: dict[int, str] = field(default_factory=dict)
    banned_sender_chats: set[int] = field(default_factory=set)
    invite_links: dict[str, InviteLink] = field(default_factory=dict)
    join_requests: dict[int, JoinRequest] = field(default_factory=dict)


@dataclass(slots=True)
class Member:
    status: str
    until_date: int = 0
    # Administrator rights (can_*), only for ADMINISTRATOR.
    rights: dict[str, bool] = field(default_factory=dict)
    # Own permissions of a RESTRICTED member.
    permissions: dict[str, bool] = field(default_factory=dict)
    is_member: bool = True
    is_anonymous: bool = False
    custom_title: str | None = None
    # Id of the user who promoted an administrator; a bot may edit admins it promoted.
    promoted_by: int | None = None

    @property
    def is_present(self) -> bool:
        """True when the user counts as being in the chat."""
        if self.status == RESTRICTED:
            return self.is_member
        return self.status in (CREATOR, ADMINISTRATOR, MEMBER)


@dataclass(slots=True)
class Message:
    chat_id: int
    message_id: int
    date: int
    # Private chats are per bot: `peer` is the bot id there and 0 everywhere else.
    peer: int = 0
    sender_id: int | None = None
    sender_chat_id: int | None = None
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] | None = None
    media: str | None = None
    reply_to: int | None = None
    thread_id: int | None = None
    is_topic_message: bool = False
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    service: dict[str, Any] | None = None
    is_automatic_forward: bool = False
    forward_origin: dict[str, Any] | None = None
    author_signature: str | None = None
    from_bot: bool = False
