"""The contract's world inside the in-process Bot API emulator, behind AiogramGateway."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot_api_emulator import BUNDLED_SPEC, EmulatorServer, Settings
from gmbot.domain.telegram import BotIdentity, Button, Permissions
from tests.contract.models import (
    FULL_RIGHTS,
    GROUP_DEFAULTS,
    RIGHTS,
    ApiFault,
    TransportModel,
)
from tests.contract.transport import gateway_over


class EmulatorModel(TransportModel):
    name = "emulator"

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.client = server.client

    @classmethod
    async def start_server(cls) -> EmulatorModel:
        server = EmulatorServer(spec_path=BUNDLED_SPEC, settings=Settings())
        await server.start()
        model = cls(server)
        bot = await model.client.create_bot("gm_test_bot", first_name="GMBot")
        # The contract is about answers; flood limits have their own emulator tests.
        await model.client.set_rate_limits(False)
        model.bot = BotIdentity(bot.id, bot.username, bot.first_name)
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
        model.aiogram = Bot(bot.token, session=session)
        model.gateway = gateway_over(model.aiogram)
        return model

    async def close(self) -> None:
        await self.aiogram.session.close()
        await self.server.stop()

    async def user(self, first_name: str = "User", *, is_bot: bool = False) -> int:
        return (await self.client.create_user(first_name, is_bot=is_bot)).id

    async def _set_admin(self, chat_id: int, user_id: int, rights: frozenset[str]) -> None:
        given = {name: name in rights for name in RIGHTS}
        await self.client.set_member(chat_id, user_id, "administrator", **given)

    async def supergroup(
        self,
        title: str = "Group",
        *,
        username: str | None = None,
        bot_rights: frozenset[str] | None = FULL_RIGHTS,
        permissions: Permissions = GROUP_DEFAULTS,
        linked_chat_id: int | None = None,
    ) -> int:
        chat = await self.client.create_chat(
            "supergroup",
            title,
            username=username,
            permissions=dict(permissions),
            linked_chat_id=linked_chat_id,
        )
        if bot_rights is None:
            await self.client.set_member(chat.id, self.bot.id, "member")
        else:
            await self._set_admin(chat.id, self.bot.id, bot_rights)
        return chat.id

    async def basic_group(self, title: str = "Basic") -> int:
        chat = await self.client.create_chat("group", title)
        await self._set_admin(chat.id, self.bot.id, FULL_RIGHTS)
        return chat.id

    async def channel(
        self, title: str = "Channel", *, username: str | None = None, bot_admin: bool = True
    ) -> int:
        chat = await self.client.create_chat("channel", title, username=username)
        if bot_admin:
            await self._set_admin(chat.id, self.bot.id, FULL_RIGHTS)
        else:
            await self.client.set_member(chat.id, self.bot.id, "member")
        return chat.id

    async def member(self, chat_id: int, user_id: int) -> None:
        await self.client.set_member(chat_id, user_id, "member")

    async def admin(
        self, chat_id: int, user_id: int, rights: frozenset[str], *, creator: bool = False
    ) -> None:
        if creator:
            # Every emulated chat starts with an owner of its own; the new owner replaces
            # them, and they leave, so the chat holds only the people the test put there.
            previous = (await self.client.chat(chat_id))["creator_id"]
            await self.client.set_member(chat_id, user_id, "creator")
            await self.client.set_member(chat_id, previous, "left")
        else:
            await self._set_admin(chat_id, user_id, rights)

    async def kick(self, chat_id: int, user_id: int) -> None:
        await self.client.set_member(chat_id, user_id, "kicked")

    async def post(self, chat_id: int, user_id: int, text: str = "hello") -> int:
        return int((await self.client.send_message(chat_id, user_id, text))["message_id"])

    async def keyboard_texts(self, chat_id: int, message_id: int) -> list[list[str]] | None:
        message = self.server.state.message(chat_id, message_id)
        assert message is not None, f"no message {message_id} in {chat_id}"
        if not message.reply_markup:
            return None
        return [[b["text"] for b in row] for row in message.reply_markup["inline_keyboard"]]

    async def start(self, user_id: int) -> None:
        await self.client.user_starts_bot(user_id, bot_id=self.bot.id)

    async def callback_query(self, chat_id: int, user_id: int) -> str:
        keyboard = [[Button("ok", callback_data="contract:1")]]
        message_id = await self.gateway.send_message(chat_id, "press", keyboard=keyboard)
        press = await self.client.press_button(
            chat_id, message_id, user_id, "contract:1", wait=False, bot_id=self.bot.id
        )
        return press.query_id

    async def callback_answers(self) -> list[tuple[str | None, bool]]:
        return [
            (r.params.get("text"), bool(r.params.get("show_alert")))
            for r in await self.client.requests("answerCallbackQuery", bot_id=self.bot.id)
            if r.ok
        ]

    async def fail(self, method: str, fault: ApiFault, times: int = 1) -> None:
        await self.client.add_fault(
            method,
            error_code=fault.code,
            description=fault.description,
            retry_after=fault.retry_after,
            times=times,
        )
