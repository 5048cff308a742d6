"""Turning changes of the world into updates for the bots that would see them.

Telegram's rules applied here: bots never see their own messages nor other bots' messages; in
groups a bot in privacy mode sees only commands, replies to it and service messages unless it is
an administrator; channel posts reach administrator bots; my_chat_member goes to the bot whose
membership changed; chat_member only to administrator bots that asked for it explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import ADMIN_STATUSES, Chat, Member, Message
from .serialize import chat_json, member_json, member_updated_json, message_json, user_json

if TYPE_CHECKING:
    from .core import Emulator


def _same(old: Member, new: Member) -> bool:
    return (old.status, old.until_date, old.rights, old.permissions, old.is_member) == (
        new.status,
        new.until_date,
        new.rights,
        new.permissions,
        new.is_member,
    )


class Events:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    # ----- messages -------------------------------------------------------------------------

    def _bot_sees(self, bot_id: int, chat: Chat, message: Message, member: Member) -> bool:
        if member.status in ADMIN_STATUSES or message.service:
            return True
        if self.emu.state.bots[bot_id].can_read_all_group_messages:
            return True
        text = message.text if message.text is not None else message.caption or ""
        if text.startswith("/"):
            return True
        if message.reply_to is not None:
            replied = self.emu.state.message(chat.id, message.reply_to)
            return replied is not None and replied.sender_id == bot_id
        return False

    def message(self, message: Message, kind: str = "message") -> None:
        """Deliver a new or edited message (kind "message" or "edited_message")."""
        state = self.emu.state
        chat = state.chats[message.chat_id]
        if message.from_bot and not message.service:
            return
        payload: dict[str, Any] | None = None
        targets = [message.peer] if chat.type == "private" else list(self.emu.updates)
        if chat.type == "channel":
            kind = "channel_post" if kind == "message" else "edited_channel_post"
        now = self.emu.now()
        for bot_id in targets:
            if bot_id == message.sender_id:
                continue
            runtime = self.emu.updates.get(bot_id)
            if runtime is None or not runtime.wants(kind):
                continue
            if chat.type != "private":
                member = state.member(chat.id, bot_id)
                if not member.is_present:
                    continue
                if chat.type == "channel":
                    if member.status not in ADMIN_STATUSES:
                        continue
                elif not self._bot_sees(bot_id, chat, message, member):
                    continue
            if payload is None:
                payload = message_json(state, message)
            runtime.push(kind, payload, chat.id, now)

    def service(self, chat: Chat, actor_id: int, fields: dict[str, Any]) -> Message:
        """A service message (new_chat_members, left_chat_member...) in a group."""
        state = self.emu.state
        message = Message(chat.id, 0, state.clock.now(), sender_id=actor_id, service=fields)
        message.from_bot = actor_id in state.bots
        state.add_message(message)
        self.message(message)
        return message

    # ----- memberships ----------------------------------------------------------------------

    def change_member(
        self,
        chat: Chat,
        user_id: int,
        new: Member,
        actor_id: int,
        *,
        service: bool = True,
        invite_link: dict[str, Any] | None = None,
        via_join_request: bool = False,
    ) -> Member:
        """Store a new membership and emit what Telegram emits; returns the old one."""
        state = self.emu.state
        old = state.member(chat.id, user_id)
        state.set_member(chat.id, user_id, new)
        if _same(old, new):
            return old
        user = state.users[user_id]
        actor = state.users[actor_id]
        now = self.emu.now()
        date = state.clock.now()
        for bot_id, runtime in self.emu.updates.items():
            if bot_id == user_id:
                kind = "my_chat_member"
                if not runtime.wants(kind):
                    continue
            else:
                kind = "chat_member"
                if runtime.explicit_allowed is None or kind not in runtime.explicit_allowed:
                    continue
                if state.member(chat.id, bot_id).status not in ADMIN_STATUSES:
                    continue
            payload = member_updated_json(
                chat,
                actor,
                date,
                member_json(chat, user, old, bot_id),
                member_json(chat, user, new, bot_id),
                invite_link=invite_link,
                via_join_request=via_join_request,
            )
            runtime.push(kind, payload, chat.id, now)
        if service and chat.type in ("group", "supergroup"):
            if new.is_present and not old.is_present:
                self.service(chat, actor_id, {"new_chat_members": [user_json(user)]})
            elif old.is_present and not new.is_present:
                self.service(chat, actor_id, {"left_chat_member": user_json(user)})
        return old

    # ----- queries and requests -------------------------------------------------------------

    def callback_query(self, bot_id: int, payload: dict[str, Any], user_id: int) -> None:
        runtime = self.emu.updates[bot_id]
        if runtime.wants("callback_query"):
            runtime.push("callback_query", payload, user_id, self.emu.now())

    def join_request(self, chat: Chat, payload: dict[str, Any]) -> None:
        state = self.emu.state
        for bot_id, runtime in self.emu.updates.items():
            member = state.member(chat.id, bot_id)
            can_invite = member.status == "creator" or member.rights.get("can_invite_users")
            if (
                member.status in ADMIN_STATUSES
                and can_invite
                and runtime.wants("chat_join_request")
            ):
                runtime.push("chat_join_request", payload, chat.id, self.emu.now())

    def private_status(self, bot_id: int, user_id: int, old: Member, new: Member) -> None:
        """my_chat_member in a private chat: the user blocked (kicked) or unblocked the bot."""
        runtime = self.emu.updates[bot_id]
        state = self.emu.state
        if not runtime.wants("my_chat_member"):
            return
        chat = state.private_chat(user_id)
        bot_user = state.users[bot_id]
        payload = {
            "chat": chat_json(chat),
            "from": user_json(state.users[user_id]),
            "date": state.clock.now(),
            "old_chat_member": member_json(chat, bot_user, old, bot_id),
            "new_chat_member": member_json(chat, bot_user, new, bot_id),
        }
        runtime.push("my_chat_member", payload, user_id, self.emu.now())
