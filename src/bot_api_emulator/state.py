"""The emulated world: users, bots, chats, memberships and messages, with id allocation."""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING

from .errors import ControlError
from .models import (
    ADMIN_STATUSES,
    CREATOR,
    KICKED,
    LEFT,
    MEMBER,
    RESTRICTED,
    BotAccount,
    Chat,
    Member,
    Message,
    User,
)
from .permissions import all_permissions

if TYPE_CHECKING:
    from .journal import MessageLog

TOKEN_RE = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{1,64}$")
USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


class Clock:
    """Wall clock with an offset, so tests can make restrictions and queries expire instantly."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> int:
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class State:
    def __init__(self, clock: Clock | None = None, message_log: MessageLog | None = None) -> None:
        self.clock = clock or Clock()
        # Where each message's appearance and deletion is recorded (observation only).
        self.message_log = message_log
        self.users: dict[int, User] = {}
        self.bots: dict[int, BotAccount] = {}
        self.tokens: dict[str, BotAccount] = {}
        self.chats: dict[int, Chat] = {}
        self.usernames: dict[str, int] = {}
        self.members: dict[int, dict[int, Member]] = {}
        # (chat_id, peer) -> message_id -> Message; peer is the bot id for private chats.
        self.messages: dict[tuple[int, int], dict[int, Message]] = {}
        self._last_message_id: dict[tuple[int, int], int] = {}
        self.started: dict[int, set[int]] = {}  # bot id -> users who pressed Start
        self.blocked: dict[int, set[int]] = {}  # bot id -> users who blocked the bot
        self._next_user = 100_000_001
        self._next_bot = 6_000_000_001
        self._next_channel = 1_000_000_001
        self._next_group = 4_000_000_001

    # ----- users and bots -------------------------------------------------------------------

    def _claim_username(self, username: str | None, owner_id: int) -> None:
        if username is None:
            return
        if not USERNAME_RE.match(username):
            raise ControlError(400, f"invalid username {username!r}")
        key = username.lower()
        if key in self.usernames and self.usernames[key] != owner_id:
            raise ControlError(409, f"username @{username} is already taken")
        self.usernames[key] = owner_id

    def add_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
        language_code: str | None = None,
        is_premium: bool = False,
        user_id: int | None = None,
    ) -> User:
        if user_id is None:
            user_id = self._next_user
            self._next_user += 1
        elif user_id in self.users or user_id <= 0:
            raise ControlError(409, f"user id {user_id} is taken or invalid")
        self._claim_username(username, user_id)
        user = User(user_id, first_name, last_name, username, is_bot, language_code, is_premium)
        self.users[user_id] = user
        return user

    def add_bot(
        self,
        username: str,
        *,
        first_name: str | None = None,
        token: str | None = None,
        can_read_all_group_messages: bool = False,
    ) -> BotAccount:
        if token is not None:
            match = TOKEN_RE.match(token)
            if not match:
                raise ControlError(400, "token must look like '<bot_id>:<secret>'")
            bot_id = int(match.group(1))
        else:
            bot_id = self._next_bot
            self._next_bot += 1
            token = f"{bot_id}:{secrets.token_urlsafe(26)[:35]}"
        if token in self.tokens:
            raise ControlError(409, "token is already registered")
        if not username.lower().endswith("bot"):
            raise ControlError(400, "a bot username must end in 'bot'")
        user = self.add_user(first_name or username, username=username, is_bot=True, user_id=bot_id)
        bot = BotAccount(user, token, can_read_all_group_messages=can_read_all_group_messages)
        self.bots[bot_id] = bot
        self.tokens[token] = bot
        self.started[bot_id] = set()
        self.blocked[bot_id] = set()
        return bot

    def user(self, user_id: int) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise ControlError(404, f"user {user_id} does not exist")
        return user

    def sole_bot(self, bot_id: int | None) -> BotAccount:
        """The bot a control action is about: the given one, or the only one there is."""
        if bot_id is not None:
            bot = self.bots.get(bot_id)
            if bot is None:
                raise ControlError(404, f"bot {bot_id} does not exist")
            return bot
        if len(self.bots) != 1:
            raise ControlError(400, "bot_id is required when there is not exactly one bot")
        return next(iter(self.bots.values()))

    # ----- chats ----------------------------------------------------------------------------

    def add_chat(
        self,
        chat_type: str,
        title: str,
        *,
        username: str | None = None,
        creator_id: int | None = None,
        chat_id: int | None = None,
        **fields: object,
    ) -> Chat:
        if chat_type not in ("group", "supergroup", "channel"):
            raise ControlError(400, "chat type must be group, supergroup or channel")
        if chat_id is None:
            if chat_type == "group":
                chat_id = -self._next_group
                self._next_group += 1
            else:
                chat_id = -(1_000_000_000_000 + self._next_channel)
                self._next_channel += 1
        if chat_id in self.chats:
            raise ControlError(409, f"chat {chat_id} already exists")
        if username is not None and chat_type == "group":
            raise ControlError(400, "basic groups can't have a username")
        self._claim_username(username, chat_id)
        chat = Chat(chat_id, chat_type, title=title, username=username)
        chat.permissions = all_permissions(True) if chat_type != "channel" else {}
        for key, value in fields.items():
            if not hasattr(chat, key):
                raise ControlError(400, f"unknown chat field {key!r}")
            setattr(chat, key, value)
        self.chats[chat_id] = chat
        self.members[chat_id] = {}
        if creator_id is None:
            creator_id = self.add_user(f"Owner of {title}").id
        self.user(creator_id)
        chat.creator_id = creator_id
        self.members[chat_id][creator_id] = Member(CREATOR)
        return chat

    def private_chat(self, user_id: int) -> Chat:
        chat = self.chats.get(user_id)
        if chat is None:
            user = self.user(user_id)
            chat = Chat(user_id, "private", first_name=user.first_name, last_name=user.last_name)
            chat.username = user.username
            self.chats[user_id] = chat
        return chat

    def chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id in self.users:
                return self.private_chat(chat_id)
            raise ControlError(404, f"chat {chat_id} does not exist")
        return chat

    def find_chat(self, ref: int | str) -> Chat | None:
        """Look up by id (users' private chats included) or by "@username"."""
        if isinstance(ref, str):
            # Usernames resolve public groups and channels only, as in the Bot API.
            target = self.usernames.get(ref.lstrip("@").lower())
            found = self.chats.get(target) if target is not None else None
            return found if found is not None and found.type != "private" else None
        chat = self.chats.get(ref)
        if chat is None and ref in self.users:
            chat = self.private_chat(ref)
        return chat

    # ----- memberships ----------------------------------------------------------------------

    def member(self, chat_id: int, user_id: int) -> Member:
        """Current membership, with restrictions and bans whose until_date passed lifted."""
        member = self.members.get(chat_id, {}).get(user_id)
        if member is None:
            return Member(LEFT)
        expiring = member.until_date and member.status in (RESTRICTED, KICKED)
        if expiring and member.until_date <= self.clock.now():
            expired_to = MEMBER if member.status == RESTRICTED and member.is_member else LEFT
            member = Member(expired_to)
            self.members[chat_id][user_id] = member
        return member

    def set_member(self, chat_id: int, user_id: int, member: Member) -> None:
        self.members.setdefault(chat_id, {})[user_id] = member

    def is_admin(self, chat_id: int, user_id: int) -> bool:
        return self.member(chat_id, user_id).status in ADMIN_STATUSES

    def has_started(self, bot_id: int, user_id: int) -> bool:
        return user_id in self.started.get(bot_id, ())

    # ----- messages -------------------------------------------------------------------------

    def add_message(self, message: Message) -> Message:
        key = (message.chat_id, message.peer)
        message.message_id = self._last_message_id.get(key, 0) + 1
        self._last_message_id[key] = message.message_id
        self.messages.setdefault(key, {})[message.message_id] = message
        if self.message_log is not None:
            self.message_log.posted(
                message.chat_id,
                message.peer,
                message.message_id,
                message.sender_id,
                message.sender_chat_id,
                message.from_bot,
            )
        return message

    def message(self, chat_id: int, message_id: int, peer: int = 0) -> Message | None:
        return self.messages.get((chat_id, peer), {}).get(message_id)

    def delete_message(
        self, chat_id: int, message_id: int, peer: int = 0, *, by: int | None = None
    ) -> None:
        """Remove a message; `by` is the bot that deleted it (for the message log)."""
        removed = self.messages.get((chat_id, peer), {}).pop(message_id, None)
        if removed is not None and self.message_log is not None:
            self.message_log.deleted(chat_id, peer, message_id, by)

    def chat_messages(self, chat_id: int, peer: int = 0) -> list[Message]:
        return list(self.messages.get((chat_id, peer), {}).values())
