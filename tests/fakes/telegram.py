"""A fake Telegram transport: an aiogram session that records every request and
answers from a small in-memory world, or from staged responses (429 included).

Answers go through aiogram's real response checker, so a staged 429 raises the
real TelegramRetryAfter and a staged 400 the real TelegramBadRequest.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods.base import TelegramMethod, TelegramType
from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
)

from bot_api_emulator.errors import ApiError as EmulatorApiError
from bot_api_emulator.html_text import parse_html
from bot_api_emulator.permissions import grants_at_least, normalize_permissions
from tests.fakes.api_spec import violations

# until_date closer than 30 seconds or further than 366 days means "forever" (0).
_MIN_UNTIL, _MAX_UNTIL = 30, 366 * 86400

DEFAULT_PERMISSIONS = {
    "can_send_messages": True,
    "can_send_audios": True,
    "can_send_documents": True,
    "can_send_photos": True,
    "can_send_videos": True,
    "can_send_video_notes": True,
    "can_send_voice_notes": True,
    "can_send_polls": True,
    "can_send_other_messages": True,
    "can_add_web_page_previews": True,
    "can_react_to_messages": True,
    "can_edit_tag": False,
    "can_change_info": False,
    "can_invite_users": True,
    "can_pin_messages": False,
    "can_manage_topics": False,
}

ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


_MEMBER_TYPES = {
    "creator": ChatMemberOwner,
    "administrator": ChatMemberAdministrator,
    "member": ChatMemberMember,
    "restricted": ChatMemberRestricted,
    "left": ChatMemberLeft,
    "kicked": ChatMemberBanned,
}


def member_dict(status: str, user: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ChatMember of `status` with every required field aiogram's model has."""
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "administrator":
        member.update(ADMIN_RIGHTS)
    if status == "restricted":
        member["is_member"] = True
    model = _MEMBER_TYPES[status]
    for name, info in model.model_fields.items():
        if info.is_required() and name not in member:
            member[name] = 0 if name == "until_date" else False
    member.update(extra)
    return member


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class Staged:
    code: int
    description: str
    retry_after: int | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.code == 200


_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_MAX_COMMANDS = 100
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)

MAX_TEXT = 4096  # characters of a message's text, after entities are parsed
MAX_CALLBACK_DATA = 64  # bytes of an inline button's callback_data


def check_text(p: dict[str, Any]) -> None:
    """Telegram's rules for a message text: HTML that parses (known tags, balanced, only
    its four named entities), at most MAX_TEXT characters once parsed, and inline
    buttons' callback data of at most MAX_CALLBACK_DATA bytes. The rules are
    the emulator's (bot_api_emulator.html_text), with Telegram's error texts."""
    text = str(p.get("text", ""))
    if p.get("parse_mode") == "HTML":
        try:
            text, _ = parse_html(text)
        except EmulatorApiError as err:
            raise ApiError(err.code, err.description) from None
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text.strip()) > MAX_TEXT:  # characters (code points), as Telegram counts
        raise ApiError(400, "Bad Request: message is too long")
    markup = p.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup or {}
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class TelegramWorld:
    """Chats, users and memberships as Telegram would answer about them."""

    bot_id: int = 777000111
    bot_username: str = "gm_test_bot"
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    # The bot's command lists, by scope (as canonical JSON) and language code.
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        self.users[self.bot_id] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "GMBot",
            "username": self.bot_username,
        }

    # ---- building the world
    def user(self, user_id: int, first_name: str = "User", is_bot: bool = False) -> dict[str, Any]:
        self.users[user_id] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        return self.users[user_id]

    def chat(
        self,
        chat_id: int,
        type_: str,
        title: str,
        *,
        username: str | None = None,
        linked_chat_id: int | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": chat_id,
            "type": type_,
            "title": title,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if username:
            chat["username"] = username
        if linked_chat_id:
            chat["linked_chat_id"] = linked_chat_id
        if is_forum:
            chat["is_forum"] = True
        if type_ in ("group", "supergroup"):
            chat["permissions"] = dict(DEFAULT_PERMISSIONS)
        self.chats[chat_id] = chat
        return chat

    def set_status(self, chat_id: int, user_id: int, status: str, **extra: Any) -> None:
        user = self.users.get(user_id) or self.user(user_id)
        member = member_dict(status, user, **extra)
        self.members[(chat_id, user_id)] = member

    def start(self, user_id: int) -> None:
        """The user starts the bot in private, so it may write to them."""
        user = self.users[user_id]
        self.chat(user_id, "private", user["first_name"])
        self.set_status(user_id, self.bot_id, "member")

    def status(self, chat_id: int, user_id: int) -> str:
        return str(self.members.get((chat_id, user_id), {"status": "left"})["status"])

    def chat_summary(self, chat_id: int) -> dict[str, Any]:
        chat = self.chats[chat_id]
        return {k: chat[k] for k in ("id", "type", "title", "username", "is_forum") if k in chat}

    def add_message(self, chat_id: int, sender_id: int, text: str, **extra: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat_summary(chat_id),
            "from": self.users[sender_id],
            "text": text,
        }
        message.update(extra)
        self.messages[chat_id][message_id] = message
        return message

    # ---- the Bot API
    def answer(self, method: str, p: dict[str, Any]) -> Any:
        handler = getattr(self, "api_" + method.lower(), None)
        if handler is None:
            raise ApiError(404, "Not Found")
        return handler(p)

    def _chat(self, ref: Any) -> dict[str, Any]:
        if isinstance(ref, str) and ref.startswith("@"):
            for chat in self.chats.values():
                if chat.get("username", "").lower() == ref[1:].lower():
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        chat = self.chats.get(int(ref))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _bot_right(self, chat_id: int, right: str) -> bool:
        me = self.members.get((chat_id, self.bot_id), {"status": "left"})
        return me["status"] == "creator" or bool(me["status"] == "administrator" and me.get(right))

    def api_getme(self, p: dict[str, Any]) -> Any:
        return {
            **self.users[self.bot_id],
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def api_getchat(self, p: dict[str, Any]) -> Any:
        return self._chat(p["chat_id"])

    def api_getchatmember(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        user_id = int(p["user_id"])
        bot_status = self.status(chat["id"], self.bot_id)
        if bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat['type']} chat")
        if chat["type"] == "channel" and bot_status not in ("administrator", "creator"):
            raise ApiError(400, "Bad Request: member list is inaccessible")
        if user_id not in self.users:
            raise ApiError(400, "Bad Request: user not found")
        return self.members.get(
            (chat["id"], user_id), {"status": "left", "user": self.users[user_id]}
        )

    def api_getchatadministrators(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        bot_status = self.status(chat["id"], self.bot_id)
        if chat["type"] == "channel" and bot_status not in ("administrator", "creator"):
            raise ApiError(400, "Bad Request: member list is inaccessible")
        # Other bots are left out unless asked for (return_bots).
        return [
            m
            for (cid, uid), m in self.members.items()
            if cid == chat["id"]
            and m["status"] in ("creator", "administrator")
            and (uid == self.bot_id or not m["user"]["is_bot"])
        ]

    def api_sendmessage(self, p: dict[str, Any]) -> Any:
        if int(p["chat_id"]) in self.users and int(p["chat_id"]) not in self.chats:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        chat = self._chat(p["chat_id"])
        if chat["type"] == "private" and (chat["id"], self.bot_id) not in self.members:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if chat["type"] != "private":
            # Only a recorded departure counts: worlds often leave the bot's own membership
            # of a group it is talking in unrecorded.
            recorded = self.members.get((chat["id"], self.bot_id), {}).get("status")
            if recorded in ("left", "kicked"):
                raise ApiError(403, f"Forbidden: bot is not a member of the {chat['type']} chat")
            if chat["type"] == "channel" and not self._bot_right(chat["id"], "can_post_messages"):
                raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        extra: dict[str, Any] = {}
        if p.get("reply_markup"):
            markup = p["reply_markup"]
            extra["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        if p.get("message_thread_id"):
            extra["message_thread_id"] = p["message_thread_id"]
        check_text(p)
        return self.add_message(chat["id"], self.bot_id, p["text"], **extra)

    def api_deletemessage(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        message = self.messages[chat["id"]].get(int(p["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        if not self._may_delete(chat["id"], message):
            raise ApiError(400, "Bad Request: message can't be deleted")
        del self.messages[chat["id"]][int(p["message_id"])]
        return True

    def _may_delete(self, chat_id: int, message: dict[str, Any]) -> bool:
        own = message["from"]["id"] == self.bot_id
        return own or self._bot_right(chat_id, "can_delete_messages")

    def api_deletemessages(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        ids = p.get("message_ids") or "[]"
        ids = json.loads(ids) if isinstance(ids, str) else ids
        if not ids:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if len(ids) > 100:
            raise ApiError(400, "Bad Request: too many message identifiers specified")
        messages = self.messages[chat["id"]]
        found = [m for m in (messages.get(int(i)) for i in ids) if m is not None]
        if not found:
            raise ApiError(400, "Bad Request: message to delete not found")
        deletable = [m for m in found if self._may_delete(chat["id"], m)]
        if not deletable:
            raise ApiError(400, "Bad Request: message can't be deleted")
        for message in deletable:  # the rest are skipped, as documented
            del messages[message["message_id"]]
        return True

    def api_editmessagetext(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        message = self.messages[chat["id"]].get(int(p["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        check_text(p)
        markup = p.get("reply_markup")
        markup = json.loads(markup) if isinstance(markup, str) else markup
        if (message["text"], message.get("reply_markup")) == (p["text"], markup):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message["text"] = p["text"]
        message.pop("reply_markup", None)  # an edit without one removes the keyboard
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def api_restrictchatmember(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        if chat["type"] != "supergroup":
            raise ApiError(400, "Bad Request: method is available only for supergroups")
        if not self._bot_right(chat["id"], "can_restrict_members"):
            raise ApiError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
        user_id = int(p["user_id"])
        if user_id not in self.users:
            raise ApiError(400, "Bad Request: user not found")
        if user_id == self.bot_id:
            raise ApiError(400, "Bad Request: can't restrict self")
        current = self.status(chat["id"], user_id)
        if current == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if current == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")
        perms = p["permissions"]
        perms = json.loads(perms) if isinstance(perms, str) else perms
        independent = str(p.get("use_independent_chat_permissions")).lower() == "true"
        full = normalize_permissions(perms, independent)
        present = current in ("member", "restricted") and (
            current == "member" or self.members[(chat["id"], user_id)]["is_member"]
        )
        if grants_at_least(full, chat["permissions"]):
            # Nothing taken away beyond the chat's defaults: a plain member (or nobody).
            if present:
                self.set_status(chat["id"], user_id, "member")
            else:
                self.members.pop((chat["id"], user_id), None)
            return True
        until = int(p.get("until_date") or 0)
        if not _MIN_UNTIL <= until - time.time() <= _MAX_UNTIL:
            until = 0
        self.set_status(
            chat["id"], user_id, "restricted", **full, until_date=until, is_member=present
        )
        return True

    def api_editmessagereplymarkup(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        message = self.messages[chat["id"]].get(int(p["message_id"]))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        markup = p.get("reply_markup")
        markup = (json.loads(markup) if isinstance(markup, str) else markup) or None
        if markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: " + _NOT_MODIFIED)
        message.pop("reply_markup", None)  # none given: the keyboard is removed
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def _moderated(self, p: dict[str, Any], types: tuple[str, ...], wrong: str) -> dict[str, Any]:
        """The chat of a ban or unban, after Telegram's chat-type and bot-rights checks."""
        chat = self._chat(p["chat_id"])
        if chat["type"] not in types:
            raise ApiError(400, "Bad Request: " + wrong)
        if not self._bot_right(chat["id"], "can_restrict_members"):
            raise ApiError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
        return chat

    def _check_target(self, chat_id: int, user_id: int) -> None:
        if user_id not in self.users:
            raise ApiError(400, "Bad Request: user not found")
        if user_id == self.bot_id:
            raise ApiError(400, "Bad Request: can't restrict self")
        current = self.status(chat_id, user_id)
        if current == "creator":
            raise ApiError(400, "Bad Request: can't remove chat owner")
        if current == "administrator":
            raise ApiError(400, "Bad Request: user is an administrator of the chat")

    def api_banchatmember(self, p: dict[str, Any]) -> Any:
        chat = self._moderated(
            p,
            ("group", "supergroup", "channel"),
            "chat member status can't be changed in private chats",
        )
        user_id = int(p["user_id"])
        self._check_target(chat["id"], user_id)
        if chat["type"] == "group":
            self.members.pop((chat["id"], user_id), None)  # no ban list: only removed
            return True
        until = int(p.get("until_date") or 0)
        if not _MIN_UNTIL <= until - time.time() <= _MAX_UNTIL:
            until = 0  # closer than 30 s or further than 366 days: forever
        self.set_status(chat["id"], user_id, "kicked", until_date=until)
        return True

    def api_unbanchatmember(self, p: dict[str, Any]) -> Any:
        chat = self._moderated(
            p,
            ("supergroup", "channel"),
            "method is available for supergroup and channel chats only",
        )
        user_id = int(p["user_id"])
        only_if_banned = str(p.get("only_if_banned")).lower() == "true"
        if only_if_banned and self.status(chat["id"], user_id) != "kicked":
            return True
        self._check_target(chat["id"], user_id)
        # Documented: not in the chat afterwards, but free to join again.
        self.members.pop((chat["id"], user_id), None)
        return True

    def _commands_key(self, p: dict[str, Any]) -> str:
        scope = p.get("scope") or {"type": "default"}
        scope = json.loads(scope) if isinstance(scope, str) else scope
        if "chat_id" in scope:
            self._chat(scope["chat_id"])
        return json.dumps(scope, sort_keys=True) + "|" + str(p.get("language_code") or "")

    def api_setmycommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands") or "[]"
        commands = json.loads(commands) if isinstance(commands, str) else commands
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > _MAX_COMMANDS:
            raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(
                str(command.get("command"))
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(p)] = commands
        return True

    def api_getmycommands(self, p: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(p), [])

    def api_deletemycommands(self, p: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(p), None)
        return True

    def api_answercallbackquery(self, p: dict[str, Any]) -> Any:
        self.callback_answers.append(
            {"text": p.get("text", ""), "show_alert": p.get("show_alert") == "true"}
        )
        return True

    def api_createchatinvitelink(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p["chat_id"])
        if not self._bot_right(chat["id"], "can_invite_users"):
            raise ApiError(400, "Bad Request: not enough rights to manage chat invite links")
        return {
            "invite_link": f"https://t.me/+fake{abs(chat['id'])}",
            "creator": self.users[self.bot_id],
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
        }

    def api_setwebhook(self, p: dict[str, Any]) -> Any:
        return True

    def api_deletewebhook(self, p: dict[str, Any]) -> Any:
        return True

    def api_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


class FakeSession(BaseSession):
    def __init__(self, world: TelegramWorld | None = None) -> None:
        super().__init__()
        self.world = world or TelegramWorld()
        self.calls: list[Call] = []
        self.conformance_errors: list[str] = []
        self._staged: dict[str, deque[Staged]] = defaultdict(deque)

    def stage(
        self,
        method: str,
        code: int = 200,
        description: str = "",
        *,
        retry_after: int | None = None,
        result: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this instead of the world."""
        for _ in range(times):
            self._staged[method.lower()].append(Staged(code, description, retry_after, result))

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def clear(self) -> None:
        self.calls.clear()

    async def close(self) -> None:
        return None

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        name = method.__api_method__
        # Exactly what aiogram's HTTP session would put on the wire.
        files: dict[str, Any] = {}
        params = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        self.calls.append(Call(name, params))
        self.conformance_errors.extend(violations(name, params))
        staged = self._staged.get(name.lower())
        if staged:
            answer = staged.popleft()
            if answer.ok:
                body: dict[str, Any] = {"ok": True, "result": answer.result}
            else:
                body = {"ok": False, "error_code": answer.code, "description": answer.description}
                if answer.retry_after is not None:
                    body["parameters"] = {"retry_after": answer.retry_after}
            status = answer.code
        else:
            try:
                body = {"ok": True, "result": self.world.answer(name, params)}
                status = 200
            except ApiError as err:
                body = {"ok": False, "error_code": err.code, "description": err.description}
                status = err.code
        response = self.check_response(bot, method, status, json.dumps(body))
        return response.result  # type: ignore[return-value]

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError
