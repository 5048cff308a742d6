"""In-memory fakes of the cache and Telegram ports, for the services' unit tests.

Working implementations, not mocks: the caches follow the Redis adapters' semantics
(tests/unit/services/test_fakes_contract.py runs the same checks against both), and
FakeTelegramGateway answers from a small world of chats, members and messages with
the Bot API rules the services rely on. Every fake counts or records its calls so a
test can assert on what a service did, not only on what it returned.

Time: every TTL is measured on a FakeClock, advanced by the test.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gmbot.domain.models import ProtectedGroup
from gmbot.domain.ports import (
    CacheUnavailable,
    DueDeletion,
    GateCache,
    GateLookup,
    GateState,
    MembershipCache,
    PromptStore,
    TelegramGateway,
    Throttle,
)
from gmbot.domain.telegram import (
    PERMISSION_FIELDS,
    BotBlocked,
    BotIdentity,
    ChatInfo,
    ChatNotFound,
    ChatType,
    Keyboard,
    MemberInfo,
    MemberListInaccessible,
    MemberStatus,
    NotEnoughRights,
    Permissions,
)

__all__ = [
    "ALL_ADMIN_RIGHTS",
    "BOT_ID",
    "DEFAULT_GROUP_PERMISSIONS",
    "Call",
    "FakeClock",
    "FakeTelegramGateway",
    "InMemoryGateCache",
    "InMemoryMembershipCache",
    "InMemoryPromptStore",
    "InMemoryThrottle",
    "SentMessage",
]

EPOCH = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Seconds since the epoch, moved only by advance()."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start.timestamp()

    def __call__(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def advance(self, seconds: float) -> None:
        self._now += seconds


# --------------------------------------------------------------------------- caches


class InMemoryMembershipCache(MembershipCache):
    """verify:{user}:{channel}: joined for `ttl` (+/- `jitter`, relative), not joined
    for `negative_ttl`. Deterministic: a joined entry lives the shortest jittered
    lifetime, ttl * (1 - jitter), the earliest the Redis one may expire."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        ttl: int = 600,
        jitter: float = 0.0,
        negative_ttl: int = 30,
    ) -> None:
        if ttl <= 0 or negative_ttl <= 0:
            raise ValueError("ttl and negative_ttl must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self._clock = clock
        self.ttl = ttl
        self.jitter = jitter
        self.negative_ttl = negative_ttl
        self._entries: dict[tuple[int, int], tuple[bool, float]] = {}
        self.gets = 0
        self.puts: list[tuple[int, int, bool]] = []

    def peek(self, user_id: int, channel_id: int) -> bool | None:
        """The live value, without counting a get."""
        entry = self._entries.get((user_id, channel_id))
        if entry is None:
            return None
        value, expires = entry
        if expires <= self._clock():
            del self._entries[(user_id, channel_id)]
            return None
        return value

    async def get(self, user_id: int, channel_id: int) -> bool | None:
        self.gets += 1
        return self.peek(user_id, channel_id)

    async def put(self, user_id: int, channel_id: int, subscribed: bool) -> None:
        self.puts.append((user_id, channel_id, subscribed))
        life = self.ttl * (1 - self.jitter) if subscribed else self.negative_ttl
        self._entries[(user_id, channel_id)] = (subscribed, self._clock() + life)

    async def drop(self, user_id: int, channel_id: int) -> None:
        self._entries.pop((user_id, channel_id), None)


@dataclass
class _Expiring:
    value: Any
    expires: float


class InMemoryGateCache(GateCache):
    """Group configuration, exempt and admin sets; lookup() reads the verify entries
    of the shared InMemoryMembershipCache, exactly like the Redis script does."""

    def __init__(self, membership: InMemoryMembershipCache, clock: FakeClock) -> None:
        self._membership = membership
        self._clock = clock
        self._groups: dict[int, _Expiring] = {}  # value: ProtectedGroup | None
        self._exempt: dict[int, _Expiring] = {}  # value: frozenset[int]
        self._admins: dict[int, _Expiring] = {}  # value: frozenset[int]
        self.lookups = 0
        self.get_groups = 0
        self.put_groups = 0
        self.dropped_groups: list[int] = []
        self.dropped_admins: list[int] = []
        # True makes lookup() raise CacheUnavailable, as Redis being down would.
        self.unavailable = False

    def _live(self, table: dict[int, _Expiring], chat_id: int) -> _Expiring | None:
        entry = table.get(chat_id)
        if entry is not None and entry.expires <= self._clock():
            del table[chat_id]
            return None
        return entry

    async def lookup(self, chat_id: int, user_id: int) -> GateLookup:
        self.lookups += 1
        if self.unavailable:
            raise CacheUnavailable("in-memory gate cache marked unavailable")
        conf = self._live(self._groups, chat_id)
        if conf is None:
            return GateLookup(GateState.GROUP_UNKNOWN)
        group: ProtectedGroup | None = conf.value
        if group is None or not group.active:
            return GateLookup(GateState.UNPROTECTED)
        admins = self._live(self._admins, chat_id)
        if admins is None:
            return GateLookup(GateState.ADMINS_UNKNOWN)
        if user_id in admins.value:
            return GateLookup(GateState.ADMIN)
        exempt = self._live(self._exempt, chat_id)
        if exempt is not None and user_id in exempt.value:
            return GateLookup(GateState.EXEMPT)
        unknown: list[int] = []
        missing: list[int] = []
        for channel in group.channels:
            joined = self._membership.peek(user_id, channel.channel_id)
            if joined is None:
                unknown.append(channel.channel_id)
            elif not joined:
                missing.append(channel.channel_id)
        if not unknown and not missing:
            return GateLookup(GateState.VERIFIED)
        return GateLookup(GateState.CHECK, unknown=tuple(unknown), missing=tuple(missing))

    async def get_group(self, chat_id: int) -> tuple[bool, ProtectedGroup | None]:
        self.get_groups += 1
        conf = self._live(self._groups, chat_id)
        if conf is None:
            return False, None
        return True, conf.value

    async def put_group(
        self, chat_id: int, group: ProtectedGroup | None, exempt: Sequence[int], ttl: int
    ) -> None:
        self.put_groups += 1
        expires = self._clock() + ttl
        self._groups[chat_id] = _Expiring(group, expires)
        self._exempt.pop(chat_id, None)
        if exempt:
            self._exempt[chat_id] = _Expiring(frozenset(exempt), expires)

    async def drop_group(self, chat_id: int) -> None:
        self.dropped_groups.append(chat_id)
        self._groups.pop(chat_id, None)
        self._exempt.pop(chat_id, None)

    async def put_admins(self, chat_id: int, user_ids: Sequence[int], ttl: int) -> None:
        self._admins[chat_id] = _Expiring(frozenset(user_ids), self._clock() + ttl)

    async def drop_admins(self, chat_id: int) -> None:
        self.dropped_admins.append(chat_id)
        self._admins.pop(chat_id, None)

    # ---- inspection
    def has_group(self, chat_id: int) -> bool:
        return self._live(self._groups, chat_id) is not None

    def has_admins(self, chat_id: int) -> bool:
        return self._live(self._admins, chat_id) is not None


class InMemoryThrottle(Throttle):
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._held: dict[str, float] = {}
        self.acquired: list[str] = []  # keys of successful acquires, in order
        self.refused: list[str] = []
        self.released: list[str] = []

    async def acquire(self, key: str, seconds: float) -> bool:
        now = self._clock()
        expires = self._held.get(key)
        if expires is not None and expires > now:
            self.refused.append(key)
            return False
        # As Redis' PX: at least one millisecond.
        self._held[key] = now + max(0.001, round(seconds * 1000) / 1000)
        self.acquired.append(key)
        return True

    async def release(self, key: str) -> None:
        self.released.append(key)
        self._held.pop(key, None)

    def held(self, key: str) -> bool:
        expires = self._held.get(key)
        return expires is not None and expires > self._clock()


_PENDING = "pending"


class InMemoryPromptStore(PromptStore):
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._slots: dict[tuple[int, int], _Expiring] = {}  # value: "pending" | message id
        self._due: dict[DueDeletion, float] = {}
        self.claims: list[tuple[int, int]] = []  # successful claims

    def _slot(self, chat_id: int, user_id: int) -> _Expiring | None:
        entry = self._slots.get((chat_id, user_id))
        if entry is not None and entry.expires <= self._clock():
            del self._slots[(chat_id, user_id)]
            return None
        return entry

    async def claim(self, chat_id: int, user_id: int, ttl: int, owner: int | None = None) -> bool:
        slot = self._slot(chat_id, user_id)
        pending = _PENDING if owner is None else f"{_PENDING}:{owner}"
        if slot is not None:
            return owner is not None and slot.value == pending
        self._slots[(chat_id, user_id)] = _Expiring(pending, self._clock() + ttl)
        self.claims.append((chat_id, user_id))
        return True

    async def attach(self, chat_id: int, user_id: int, message_id: int, ttl: int) -> None:
        slot = self._slot(chat_id, user_id)
        if slot is not None:
            slot.value = message_id  # keeps the remaining TTL
        else:
            self._slots[(chat_id, user_id)] = _Expiring(message_id, self._clock() + ttl)

    async def current(self, chat_id: int, user_id: int) -> int | None:
        slot = self._slot(chat_id, user_id)
        if slot is None or str(slot.value).startswith(_PENDING):
            return None
        return int(slot.value)

    async def clear(self, chat_id: int, user_id: int) -> int | None:
        slot = self._slot(chat_id, user_id)
        self._slots.pop((chat_id, user_id), None)
        if slot is None or str(slot.value).startswith(_PENDING):
            return None
        return int(slot.value)

    async def schedule_deletion(self, item: DueDeletion, at: float) -> None:
        self._due[item] = at  # like a sorted-set member: rescheduling moves it

    async def claim_due(self, now: float, limit: int = 100) -> list[DueDeletion]:
        if limit <= 0:
            return []
        # ZRANGEBYSCORE order: by score, then by the encoded member.
        ready = sorted(
            (at, _encode_due(item), item) for item, at in self._due.items() if at <= now
        )[:limit]
        for _, _, item in ready:
            del self._due[item]
        return [item for _, _, item in ready]

    # ---- inspection
    def scheduled(self) -> dict[DueDeletion, float]:
        return dict(self._due)


def _encode_due(item: DueDeletion) -> str:
    user = "" if item.user_id is None else item.user_id
    return f"{item.chat_id}:{item.message_id}:{user}"


# --------------------------------------------------------------------------- telegram

BOT_ID = 777000111

ALL_ADMIN_RIGHTS = frozenset(
    {
        "can_delete_messages",
        "can_restrict_members",
        "can_invite_users",
        "can_pin_messages",
        "can_change_info",
        "can_promote_members",
        "can_manage_chat",
        "can_post_messages",
    }
)

# A typical group: members may send everything but not edit the group.
DEFAULT_GROUP_PERMISSIONS: Permissions = {
    **dict.fromkeys(PERMISSION_FIELDS, True),
    "can_change_info": False,
    "can_pin_messages": False,
    "can_manage_topics": False,
}


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SentMessage:
    chat_id: int
    message_id: int
    sender_id: int
    text: str
    keyboard: Keyboard | None = None
    thread_id: int | None = None


@dataclass
class _Failure:
    exc: BaseException
    times: int
    where: dict[str, Any]

    def applies(self, args: dict[str, Any]) -> bool:
        return all(args.get(k) == v for k, v in self.where.items())


@dataclass
class FakeTelegramGateway(TelegramGateway):
    """A small Telegram: chats, members, messages, with the rules the services meet."""

    bot: BotIdentity = field(default_factory=lambda: BotIdentity(BOT_ID, "gm_test_bot", "GMBot"))
    chats: dict[int, ChatInfo] = field(default_factory=dict)
    members: dict[tuple[int, int], MemberInfo] = field(default_factory=dict)
    # Permissions of restricted members, as last set by restrict().
    member_permissions: dict[tuple[int, int], Permissions] = field(default_factory=dict)
    messages: dict[int, dict[int, SentMessage]] = field(default_factory=lambda: defaultdict(dict))
    started: set[int] = field(default_factory=set)  # users who may be written to
    calls: list[Call] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[SentMessage] = field(default_factory=list)
    deleted: list[SentMessage] = field(default_factory=list)  # successfully deleted
    latency: float = 0.0  # seconds every call takes (lets concurrent callers overlap)
    _failures: dict[str, deque[_Failure]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5000))

    # ---- building the world
    def supergroup(
        self,
        chat_id: int,
        title: str = "Group",
        *,
        linked_chat_id: int | None = None,
        bot_rights: frozenset[str] | None = ALL_ADMIN_RIGHTS,
        permissions: Permissions | None = None,
        type_: ChatType = ChatType.SUPERGROUP,
    ) -> ChatInfo:
        """A group where the bot is an admin with `bot_rights` (None: not an admin)."""
        chat = ChatInfo(
            id=chat_id,
            type=type_,
            title=title,
            linked_chat_id=linked_chat_id,
            permissions=dict(permissions or DEFAULT_GROUP_PERMISSIONS),
        )
        self.chats[chat_id] = chat
        if bot_rights is None:
            self.set_member(chat_id, self.bot.id, MemberStatus.MEMBER, is_bot=True)
        else:
            self.set_admin(chat_id, self.bot.id, bot_rights, is_bot=True)
        return chat

    def channel(
        self,
        chat_id: int,
        title: str = "Channel",
        *,
        username: str | None = None,
        invite_link: str | None = None,
        bot_admin: bool = True,
    ) -> ChatInfo:
        chat = ChatInfo(
            id=chat_id,
            type=ChatType.CHANNEL,
            title=title,
            username=username,
            invite_link=invite_link,
        )
        self.chats[chat_id] = chat
        if bot_admin:
            self.set_admin(chat_id, self.bot.id, ALL_ADMIN_RIGHTS, is_bot=True)
        return chat

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: MemberStatus = MemberStatus.MEMBER,
        **extra: Any,
    ) -> MemberInfo:
        member = MemberInfo(user_id=user_id, status=status, **extra)
        self.members[(chat_id, user_id)] = member
        return member

    def set_admin(
        self,
        chat_id: int,
        user_id: int,
        rights: frozenset[str] = ALL_ADMIN_RIGHTS,
        *,
        creator: bool = False,
        is_bot: bool = False,
    ) -> MemberInfo:
        status = MemberStatus.CREATOR if creator else MemberStatus.ADMINISTRATOR
        return self.set_member(chat_id, user_id, status, rights=frozenset(rights), is_bot=is_bot)

    def remove_member(self, chat_id: int, user_id: int) -> None:
        self.members.pop((chat_id, user_id), None)

    def status(self, chat_id: int, user_id: int) -> MemberStatus:
        member = self.members.get((chat_id, user_id))
        return member.status if member else MemberStatus.LEFT

    def post(self, chat_id: int, user_id: int, text: str = "hello") -> int:
        """A message someone else sent in the chat; returns its id."""
        message_id = next(self._ids)
        self.messages[chat_id][message_id] = SentMessage(chat_id, message_id, user_id, text)
        return message_id

    def fail(self, method: str, exc: BaseException, times: int = 1, **where: Any) -> None:
        """The next `times` calls of `method` raise `exc`; with `where` (e.g.
        chat_id=...), only calls whose arguments have those values count."""
        if not hasattr(self, method):
            raise AttributeError(f"no gateway method {method!r}")
        self._failures[method].append(_Failure(exc, times, where))

    # ---- inspection
    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def count(self, method: str | None = None) -> int:
        return len(self.calls) if method is None else len(self.calls_of(method))

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent successfully, oldest first."""
        return [m for m in self.outbox if chat_id is None or m.chat_id == chat_id]

    # ---- the port
    async def _enter(self, method: str, **args: Any) -> None:
        self.calls.append(Call(method, args))
        if self.latency:
            await asyncio.sleep(self.latency)
        queue = self._failures.get(method)
        failure = next((f for f in queue or () if f.applies(args)), None)
        if failure is not None:
            failure.times -= 1
            if failure.times <= 0:
                assert queue is not None
                queue.remove(failure)
            raise failure.exc

    def _chat(self, ref: int | str, method: str) -> ChatInfo:
        if isinstance(ref, str):
            if ref.startswith("@"):
                for chat in self.chats.values():
                    if (chat.username or "").lower() == ref[1:].lower():
                        return chat
                raise ChatNotFound("Bad Request: chat not found", method)
            ref = int(ref)
        chat = self.chats.get(ref)
        if chat is None:
            raise ChatNotFound("Bad Request: chat not found", method)
        return chat

    def _bot_right(self, chat_id: int, right: str) -> bool:
        me = self.members.get((chat_id, self.bot.id))
        return me is not None and me.is_admin and me.has_right(right)

    async def get_me(self) -> BotIdentity:
        await self._enter("get_me")
        return self.bot

    async def get_chat(self, chat: int | str) -> ChatInfo:
        await self._enter("get_chat", chat=chat)
        return self._chat(chat, "getChat")

    async def get_member(self, chat_id: int, user_id: int) -> MemberInfo:
        await self._enter("get_member", chat_id=chat_id, user_id=user_id)
        chat = self._chat(chat_id, "getChatMember")
        if chat.is_channel and not self.members.get((chat_id, self.bot.id), _LEFT).is_admin:
            raise MemberListInaccessible("Bad Request: member list is inaccessible")
        return self.members.get((chat_id, user_id)) or MemberInfo(user_id, MemberStatus.LEFT)

    async def get_admins(self, chat_id: int) -> list[MemberInfo]:
        await self._enter("get_admins", chat_id=chat_id)
        chat = self._chat(chat_id, "getChatAdministrators")
        if chat.is_channel and not self.members.get((chat_id, self.bot.id), _LEFT).is_admin:
            raise MemberListInaccessible("Bad Request: member list is inaccessible")
        return [m for (cid, _), m in self.members.items() if cid == chat_id and m.is_admin]

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        thread_id: int | None = None,
    ) -> int:
        await self._enter(
            "send_message", chat_id=chat_id, text=text, keyboard=keyboard, thread_id=thread_id
        )
        if chat_id > 0:
            if chat_id not in self.started:
                raise BotBlocked("Forbidden: bot can't initiate conversation with a user")
        else:
            self._chat(chat_id, "sendMessage")
        message = SentMessage(chat_id, next(self._ids), self.bot.id, text, keyboard, thread_id)
        self.messages[chat_id][message.message_id] = message
        self.outbox.append(message)
        return message.message_id

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        await self._enter("delete_message", chat_id=chat_id, message_id=message_id)
        chat = self._chat(chat_id, "deleteMessage")
        message = self.messages[chat.id].get(message_id)
        if message is None:
            return False  # the adapter turns "message to delete not found" into False
        if message.sender_id != self.bot.id and not self._bot_right(chat.id, "can_delete_messages"):
            raise NotEnoughRights("Bad Request: message can't be deleted", "deleteMessage")
        del self.messages[chat.id][message_id]
        self.deleted.append(message)
        return True

    async def restrict(
        self, chat_id: int, user_id: int, permissions: Permissions, until: datetime | None = None
    ) -> None:
        await self._enter(
            "restrict", chat_id=chat_id, user_id=user_id, permissions=permissions, until=until
        )
        chat = self._chat(chat_id, "restrictChatMember")
        if chat.type is not ChatType.SUPERGROUP:
            raise NotEnoughRights(
                "Bad Request: method is available only for supergroups", "restrictChatMember"
            )
        if not self._bot_right(chat_id, "can_restrict_members"):
            raise NotEnoughRights(
                "Bad Request: not enough rights to restrict/unrestrict chat member",
                "restrictChatMember",
            )
        current = self.members.get((chat_id, user_id)) or MemberInfo(user_id, MemberStatus.LEFT)
        if current.is_admin:
            raise NotEnoughRights(
                "Bad Request: user is an administrator of the chat", "restrictChatMember"
            )
        in_chat = current.is_subscribed
        full = {k: bool(permissions.get(k, False)) for k in PERMISSION_FIELDS}
        defaults = {k: bool((chat.permissions or {}).get(k, False)) for k in PERMISSION_FIELDS}
        self.member_permissions.pop((chat_id, user_id), None)
        if full == defaults:
            # Telegram drops a restriction equal to the chat's defaults.
            if in_chat:
                self.members[(chat_id, user_id)] = MemberInfo(
                    user_id, MemberStatus.MEMBER, is_bot=current.is_bot
                )
            else:
                self.members.pop((chat_id, user_id), None)
            return
        self.members[(chat_id, user_id)] = MemberInfo(
            user_id, MemberStatus.RESTRICTED, is_member=in_chat, is_bot=current.is_bot, until=until
        )
        self.member_permissions[(chat_id, user_id)] = full

    async def answer_callback(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        await self._enter("answer_callback", callback_id=callback_id, text=text, alert=alert)
        self.callback_answers.append({"id": callback_id, "text": text, "alert": alert})

    async def create_invite_link(self, chat_id: int) -> str:
        await self._enter("create_invite_link", chat_id=chat_id)
        chat = self._chat(chat_id, "createChatInviteLink")
        if not self._bot_right(chat.id, "can_invite_users"):
            raise NotEnoughRights("Bad Request: not enough rights", "createChatInviteLink")
        return f"https://t.me/+fake{abs(chat.id)}"

    # ---- convenience for tests
    def is_muted(self, chat_id: int, user_id: int) -> bool:
        member = self.members.get((chat_id, user_id))
        return (
            member is not None
            and member.status is MemberStatus.RESTRICTED
            and not self.member_permissions.get((chat_id, user_id), {}).get(
                "can_send_messages", False
            )
        )

    def with_chat(self, chat_id: int, **changes: Any) -> ChatInfo:
        self.chats[chat_id] = replace(self.chats[chat_id], **changes)
        return self.chats[chat_id]


_LEFT = MemberInfo(0, MemberStatus.LEFT)
