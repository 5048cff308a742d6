"""One interface over the three models of Telegram the tests use, so the contract suite
builds the same world in each and runs the same checks against its TelegramGateway.

- "fake": FakeTelegramGateway (tests/fakes/telegram_gateway.py), under the service tests;
- "session": AiogramGateway over FakeSession (tests/fakes/telegram.py), the end-to-end tests;
- "emulator": AiogramGateway over the in-process bot_api_emulator, the closest to Telegram.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import PERMISSION_FIELDS, BotIdentity, Permissions

BOT = BotIdentity(777000111, "gm_test_bot", "GMBot")

# Administrator rights the contract talks about; each model sets exactly these.
RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_restrict_members",
    "can_invite_users",
    "can_pin_messages",
    "can_change_info",
    "can_promote_members",
    "can_post_messages",
)
FULL_RIGHTS = frozenset(RIGHTS) - {"can_promote_members"}
# A group's default permissions: not everything is allowed, so "restored the defaults" and
# "allowed everything" are different outcomes.
GROUP_DEFAULTS: Permissions = {
    **dict.fromkeys(PERMISSION_FIELDS, True),
    "can_send_polls": False,
    "can_change_info": False,
    "can_pin_messages": False,
    "can_edit_tag": False,
    "can_manage_topics": False,
}


@dataclass(frozen=True, slots=True)
class ApiFault:
    """A Bot API error answer for the next call of a gateway method."""

    code: int
    description: str
    retry_after: int | None = None


class TelegramModel(ABC):
    name: str
    gateway: TelegramGateway
    bot: BotIdentity

    @abstractmethod
    async def user(self, first_name: str = "User", *, is_bot: bool = False) -> int: ...

    @abstractmethod
    async def supergroup(
        self,
        title: str = "Group",
        *,
        username: str | None = None,
        bot_rights: frozenset[str] | None = FULL_RIGHTS,
        permissions: Permissions = GROUP_DEFAULTS,
        linked_chat_id: int | None = None,
    ) -> int:
        """A supergroup where the bot is an admin with `bot_rights` (None: a plain member)."""

    @abstractmethod
    async def basic_group(self, title: str = "Basic") -> int:
        """A basic group (not a supergroup) where the bot is an admin."""

    @abstractmethod
    async def channel(
        self, title: str = "Channel", *, username: str | None = None, bot_admin: bool = True
    ) -> int: ...

    @abstractmethod
    async def member(self, chat_id: int, user_id: int) -> None: ...

    @abstractmethod
    async def admin(
        self, chat_id: int, user_id: int, rights: frozenset[str], *, creator: bool = False
    ) -> None: ...

    @abstractmethod
    async def kick(self, chat_id: int, user_id: int) -> None: ...

    @abstractmethod
    async def post(self, chat_id: int, user_id: int, text: str = "hello") -> int:
        """A message someone else sent; returns its id."""

    @abstractmethod
    async def keyboard_texts(self, chat_id: int, message_id: int) -> list[list[str]] | None:
        """The button texts of a message's inline keyboard as the chat shows it (None: none)."""

    @abstractmethod
    async def start(self, user_id: int) -> None:
        """The user starts the bot in private, so it may write to them."""

    @abstractmethod
    async def callback_query(self, chat_id: int, user_id: int) -> str:
        """The user presses a button under a bot message; returns the query id."""

    @abstractmethod
    async def callback_answers(self) -> list[tuple[str | None, bool]]:
        """(text, alert) of every callback answer Telegram accepted."""

    async def close(self) -> None:
        return None


class TransportModel(TelegramModel):
    """A model behind the real AiogramGateway: faults are Bot API answers on the wire."""

    @abstractmethod
    async def fail(self, method: str, fault: ApiFault, times: int = 1) -> None:
        """The next `times` calls of the Bot API `method` (e.g. "getChat") get `fault`."""
