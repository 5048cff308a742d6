"""FakeTelegramGateway: the TelegramGateway port answered from a small world of
chats, members and messages, with the Bot API rules the services rely on. It
records every call, so a test can assert on what a service did, not only on
what it returned. (tests/fakes/telegram.py fakes one level lower: the Bot API
transport under aiogram.)"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import (
    PERMISSION_FIELDS,
    BadRequest,
    BotBlocked,
    BotIdentity,
    ChatInfo,
    ChatNotFound,
    ChatType,
    CommandScope,
    Keyboard,
    MemberInfo,
    MemberListInaccessible,
    MemberStatus,
    NotEnoughRights,
    Permissions,
    complete_permissions,
)

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
    edited: list[SentMessage] = field(default_factory=list)  # each edit, as it reads after
    latency: float = 0.0  # seconds every call takes (lets concurrent callers overlap)
    # Command lists as set_commands left them, by (scope, language or "").
    commands: dict[tuple[CommandScope, str], list[tuple[str, str]]] = field(default_factory=dict)
    bans: list[tuple[int, int, datetime | None]] = field(default_factory=list)  # chat, user, until
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
        if self.status(chat_id, self.bot.id) is MemberStatus.KICKED:
            raise BotBlocked(f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.is_channel and not self.members.get((chat_id, self.bot.id), _LEFT).is_admin:
            raise MemberListInaccessible("Bad Request: member list is inaccessible")
        member = self.members.get((chat_id, user_id)) or MemberInfo(user_id, MemberStatus.LEFT)
        if member.status is MemberStatus.RESTRICTED:
            perms = self.member_permissions.get((chat_id, user_id), {})
            member = replace(member, can_send_messages=bool(perms.get("can_send_messages")))
        return member

    async def get_admins(self, chat_id: int) -> list[MemberInfo]:
        await self._enter("get_admins", chat_id=chat_id)
        chat = self._chat(chat_id, "getChatAdministrators")
        if chat.is_channel and not self.members.get((chat_id, self.bot.id), _LEFT).is_admin:
            raise MemberListInaccessible("Bad Request: member list is inaccessible")
        return [
            m
            for (cid, uid), m in self.members.items()
            if cid == chat_id and m.is_admin and (uid == self.bot.id or not m.is_bot)
        ]

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
            chat = self._chat(chat_id, "sendMessage")
            if self.status(chat_id, self.bot.id) in (MemberStatus.LEFT, MemberStatus.KICKED):
                raise BotBlocked(f"Forbidden: bot is not a member of the {chat.type} chat")
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
        if not self._may_delete(chat.id, message):
            raise NotEnoughRights("Bad Request: message can't be deleted", "deleteMessage")
        del self.messages[chat.id][message_id]
        self.deleted.append(message)
        return True

    def _may_delete(self, chat_id: int, message: SentMessage) -> bool:
        return message.sender_id == self.bot.id or self._bot_right(chat_id, "can_delete_messages")

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> None:
        ids = list(message_ids)
        if not 1 <= len(ids) <= 100:
            raise ValueError(f"deleteMessages takes 1-100 ids, not {len(ids)}")
        await self._enter("delete_messages", chat_id=chat_id, message_ids=ids)
        chat = self._chat(chat_id, "deleteMessages")
        # Messages that are gone are skipped; the call is refused only when none of the
        # ones still there may be deleted.
        found = [m for m in (self.messages[chat.id].get(i) for i in ids) if m is not None]
        deletable = [m for m in found if self._may_delete(chat.id, m)]
        if found and not deletable:
            raise NotEnoughRights("Bad Request: message can't be deleted", "deleteMessages")
        for message in deletable:
            del self.messages[chat.id][message.message_id]
            self.deleted.append(message)

    async def edit_message(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> bool:
        await self._enter(
            "edit_message", chat_id=chat_id, message_id=message_id, text=text, keyboard=keyboard
        )
        chat = self._chat(chat_id, "editMessageText")
        message = self.messages[chat.id].get(message_id)
        if message is None:
            return False  # the adapter turns "message to edit not found" into False
        if message.sender_id != self.bot.id:
            raise BadRequest("Bad Request: message can't be edited", "editMessageText")
        # Without a keyboard the edit removes the one the message had, as Telegram does.
        new_keyboard = keyboard or None
        if (message.text, message.keyboard) == (text, new_keyboard):
            return True  # "message is not modified" is no failure to the adapter either
        edited = replace(message, text=text, keyboard=new_keyboard)
        self.messages[chat.id][message_id] = edited
        self.edited.append(edited)
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
        given = complete_permissions(permissions)  # omitted ones as Telegram reads them
        full = {k: given[k] for k in PERMISSION_FIELDS}
        defaults = {k: bool((chat.permissions or {}).get(k, False)) for k in PERMISSION_FIELDS}
        self.member_permissions.pop((chat_id, user_id), None)
        if all(full[k] or not defaults[k] for k in PERMISSION_FIELDS):
            # Telegram drops a restriction that takes away nothing the chat allows.
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

    async def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> bool:
        await self._enter(
            "edit_keyboard", chat_id=chat_id, message_id=message_id, keyboard=keyboard
        )
        chat = self._chat(chat_id, "editMessageReplyMarkup")
        message = self.messages[chat.id].get(message_id)
        if message is None:
            return False  # the adapter turns "message to edit not found" into False
        if message.sender_id != self.bot.id:
            raise BadRequest("Bad Request: message can't be edited", "editMessageReplyMarkup")
        new_keyboard = keyboard or None
        if message.keyboard == new_keyboard:
            return True  # "message is not modified" is no failure to the adapter
        edited = replace(message, keyboard=new_keyboard)
        self.messages[chat.id][message_id] = edited
        self.edited.append(edited)
        return True

    def _moderated(self, chat_id: int, user_id: int, method: str, *, basic_ok: bool) -> ChatInfo:
        """Telegram's checks before a ban or unban, in its order."""
        chat = self._chat(chat_id, method)
        if chat.type is ChatType.PRIVATE:
            raise BadRequest("Bad Request: chat member status can't be changed in private chats")
        if chat.type is ChatType.GROUP and not basic_ok:
            raise NotEnoughRights(
                "Bad Request: method is available for supergroup and channel chats only", method
            )
        if not self._bot_right(chat_id, "can_restrict_members"):
            raise NotEnoughRights(
                "Bad Request: not enough rights to restrict/unrestrict chat member", method
            )
        return chat

    def _check_target(self, chat_id: int, user_id: int, method: str) -> MemberInfo:
        if user_id == self.bot.id:
            raise NotEnoughRights("Bad Request: can't restrict self", method)
        current = self.members.get((chat_id, user_id)) or MemberInfo(user_id, MemberStatus.LEFT)
        if current.status is MemberStatus.CREATOR:
            raise NotEnoughRights("Bad Request: can't remove chat owner", method)
        if current.status is MemberStatus.ADMINISTRATOR:
            raise NotEnoughRights("Bad Request: user is an administrator of the chat", method)
        return current

    async def ban(
        self,
        chat_id: int,
        user_id: int,
        *,
        until: datetime | None = None,
        revoke_messages: bool = False,
    ) -> None:
        await self._enter(
            "ban", chat_id=chat_id, user_id=user_id, until=until, revoke_messages=revoke_messages
        )
        chat = self._moderated(chat_id, user_id, "banChatMember", basic_ok=True)
        current = self._check_target(chat_id, user_id, "banChatMember")
        self.member_permissions.pop((chat_id, user_id), None)
        self.bans.append((chat_id, user_id, until))
        if chat.type is ChatType.GROUP:
            self.members.pop((chat_id, user_id), None)  # no ban list: only removed
            return
        self.members[(chat_id, user_id)] = MemberInfo(
            user_id, MemberStatus.KICKED, is_bot=current.is_bot, until=until
        )

    async def unban(self, chat_id: int, user_id: int, *, only_if_banned: bool = True) -> None:
        await self._enter("unban", chat_id=chat_id, user_id=user_id, only_if_banned=only_if_banned)
        self._moderated(chat_id, user_id, "unbanChatMember", basic_ok=False)
        if only_if_banned and self.status(chat_id, user_id) is not MemberStatus.KICKED:
            return
        self._check_target(chat_id, user_id, "unbanChatMember")
        self.member_permissions.pop((chat_id, user_id), None)
        self.members.pop((chat_id, user_id), None)  # "left": not in the chat, may join

    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        scope: CommandScope,
        language: str | None = None,
    ) -> None:
        listed = list(commands)
        await self._enter("set_commands", commands=listed, scope=scope, language=language)
        if len(listed) > 100:
            raise BadRequest("Bad Request: BOT_COMMANDS_TOO_MUCH", "setMyCommands")
        for name, text in listed:
            if not _COMMAND.fullmatch(name):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID", "setMyCommands")
            if not 1 <= len(text) <= 256:
                raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID", "setMyCommands")
        self._command_chat(scope)
        self.commands[(scope, language or "")] = listed

    async def get_commands(
        self, scope: CommandScope, language: str | None = None
    ) -> list[tuple[str, str]]:
        await self._enter("get_commands", scope=scope, language=language)
        self._command_chat(scope)
        return list(self.commands.get((scope, language or ""), []))

    def _command_chat(self, scope: CommandScope) -> None:
        if scope.chat_id is not None:
            self._chat(scope.chat_id, "setMyCommands")

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
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
