"""The contract's world inside FakeTelegramGateway."""

from __future__ import annotations

import itertools

from gmbot.domain.telegram import ChatType, MemberStatus, Permissions
from tests.contract.models import BOT, FULL_RIGHTS, GROUP_DEFAULTS, TelegramModel
from tests.fakes.telegram_gateway import FakeTelegramGateway


class FakeModel(TelegramModel):
    name = "fake"

    def __init__(self) -> None:
        self.fake = FakeTelegramGateway(bot=BOT)
        self.gateway = self.fake
        self.bot = BOT
        self._users = itertools.count(100)
        self._chats = itertools.count(-1001000000001, -1)
        self._basic_groups = itertools.count(-5001, -1)
        self._queries = itertools.count(1)
        self._bots: set[int] = set()  # the fake keeps is_bot on memberships, not on users

    async def user(self, first_name: str = "User", *, is_bot: bool = False) -> int:
        user_id = next(self._users)
        if is_bot:
            self._bots.add(user_id)
        return user_id

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
        self.fake.supergroup(
            chat_id,
            title,
            linked_chat_id=linked_chat_id,
            bot_rights=bot_rights,
            permissions=permissions,
        )
        if username:
            self.fake.with_chat(chat_id, username=username)
        return chat_id

    async def basic_group(self, title: str = "Basic") -> int:
        chat_id = next(self._basic_groups)
        self.fake.supergroup(chat_id, title, type_=ChatType.GROUP)
        return chat_id

    async def channel(
        self, title: str = "Channel", *, username: str | None = None, bot_admin: bool = True
    ) -> int:
        chat_id = next(self._chats)
        self.fake.channel(chat_id, title, username=username, bot_admin=bot_admin)
        return chat_id

    async def member(self, chat_id: int, user_id: int) -> None:
        self.fake.set_member(chat_id, user_id, MemberStatus.MEMBER, is_bot=user_id in self._bots)

    async def admin(
        self, chat_id: int, user_id: int, rights: frozenset[str], *, creator: bool = False
    ) -> None:
        self.fake.set_admin(chat_id, user_id, rights, creator=creator, is_bot=user_id in self._bots)

    async def kick(self, chat_id: int, user_id: int) -> None:
        self.fake.set_member(chat_id, user_id, MemberStatus.KICKED)

    async def post(self, chat_id: int, user_id: int, text: str = "hello") -> int:
        return self.fake.post(chat_id, user_id, text)

    async def keyboard_texts(self, chat_id: int, message_id: int) -> list[list[str]] | None:
        keyboard = self.fake.messages[chat_id][message_id].keyboard
        return [[b.text for b in row] for row in keyboard] if keyboard else None

    async def start(self, user_id: int) -> None:
        self.fake.started.add(user_id)

    async def callback_query(self, chat_id: int, user_id: int) -> str:
        return f"query-{next(self._queries)}"

    async def callback_answers(self) -> list[tuple[str | None, bool]]:
        return [(a["text"], a["alert"]) for a in self.fake.callback_answers]
