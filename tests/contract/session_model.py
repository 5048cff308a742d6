"""The contract's world inside FakeSession's TelegramWorld, behind AiogramGateway."""

from __future__ import annotations

import itertools

from aiogram import Bot

from gmbot.domain.telegram import BotIdentity, Permissions
from tests.contract.models import (
    BOT,
    FULL_RIGHTS,
    GROUP_DEFAULTS,
    RIGHTS,
    ApiFault,
    TransportModel,
)
from tests.contract.transport import gateway_over
from tests.fakes.telegram import FakeSession


class SessionModel(TransportModel):
    name = "session"

    def __init__(self) -> None:
        self.session = FakeSession()
        self.world = self.session.world
        self.bot = BotIdentity(self.world.bot_id, self.world.bot_username, BOT.first_name)
        self.aiogram = Bot(f"{self.world.bot_id}:contract", session=self.session)
        self.gateway = gateway_over(self.aiogram)
        self._users = itertools.count(100)
        self._chats = itertools.count(-1001000000001, -1)
        self._basic_groups = itertools.count(-5001, -1)
        self._queries = itertools.count(1)

    async def user(self, first_name: str = "User", *, is_bot: bool = False) -> int:
        return int(self.world.user(next(self._users), first_name, is_bot=is_bot)["id"])

    def _admin(self, chat_id: int, user_id: int, rights: frozenset[str]) -> None:
        self.world.set_status(
            chat_id, user_id, "administrator", **{name: name in rights for name in RIGHTS}
        )

    async def supergroup(
        self,
        title: str = "Group",
        *,
        username: str | None = None,
        bot_rights: frozenset[str] | None = FULL_RIGHTS,
        permissions: Permissions = GROUP_DEFAULTS,
        linked_chat_id: int | None = None,
    ) -> int:
        chat_id = next(self._chats)
        chat = self.world.chat(
            chat_id, "supergroup", title, username=username, linked_chat_id=linked_chat_id
        )
        chat["permissions"] = dict(permissions)
        if bot_rights is None:
            self.world.set_status(chat_id, self.bot.id, "member")
        else:
            self._admin(chat_id, self.bot.id, bot_rights)
        return chat_id

    async def basic_group(self, title: str = "Basic") -> int:
        chat_id = next(self._basic_groups)
        self.world.chat(chat_id, "group", title)
        self._admin(chat_id, self.bot.id, FULL_RIGHTS)
        return chat_id

    async def channel(
        self, title: str = "Channel", *, username: str | None = None, bot_admin: bool = True
    ) -> int:
        chat_id = next(self._chats)
        self.world.chat(chat_id, "channel", title, username=username)
        if bot_admin:
            self._admin(chat_id, self.bot.id, FULL_RIGHTS)
        else:
            self.world.set_status(chat_id, self.bot.id, "member")
        return chat_id

    async def member(self, chat_id: int, user_id: int) -> None:
        self.world.set_status(chat_id, user_id, "member")

    async def admin(
        self, chat_id: int, user_id: int, rights: frozenset[str], *, creator: bool = False
    ) -> None:
        if creator:
            self.world.set_status(chat_id, user_id, "creator")
        else:
            self._admin(chat_id, user_id, rights)

    async def kick(self, chat_id: int, user_id: int) -> None:
        self.world.set_status(chat_id, user_id, "kicked")

    async def post(self, chat_id: int, user_id: int, text: str = "hello") -> int:
        return int(self.world.add_message(chat_id, user_id, text)["message_id"])

    async def keyboard_texts(self, chat_id: int, message_id: int) -> list[list[str]] | None:
        markup = self.world.messages[chat_id][message_id].get("reply_markup")
        if not markup:
            return None
        return [[b["text"] for b in row] for row in markup["inline_keyboard"]]

    async def start(self, user_id: int) -> None:
        self.world.start(user_id)

    async def callback_query(self, chat_id: int, user_id: int) -> str:
        return f"query-{next(self._queries)}"

    async def callback_answers(self) -> list[tuple[str | None, bool]]:
        return [(a["text"] or None, a["show_alert"]) for a in self.world.callback_answers]

    async def fail(self, method: str, fault: ApiFault, times: int = 1) -> None:
        self.session.stage(
            method, fault.code, fault.description, retry_after=fault.retry_after, times=times
        )

    async def close(self) -> None:
        await self.aiogram.session.close()
