"""Async Python client of the control API, for tests and demos.

async with EmulatorClient("http://127.0.0.1:8081") as emu:
    bot = await emu.create_bot("gm_test_bot")
    alice = await emu.create_user("Alice")
    group = await emu.create_chat("supergroup", "Group")
    await emu.set_member(group.id, bot.id, "administrator")
    msg = await emu.send_message(group.id, alice.id, "hello")
"""

from __future__ import annotations

from typing import Any, TypeVar

from .client_base import EmulatorError, wait_for
from .client_observe import ObserveMixin
from .client_types import (
    Bot,
    CallbackAnswer,
    Chat,
    ConformanceError,
    Delivery,
    MessageLife,
    RequestRecord,
    User,
)

T = TypeVar("T")

__all__ = [
    "Bot",
    "CallbackAnswer",
    "Chat",
    "ConformanceError",
    "Delivery",
    "EmulatorClient",
    "EmulatorError",
    "MessageLife",
    "RequestRecord",
    "User",
    "wait_for",
]


def _chat(data: dict[str, Any]) -> Chat:
    return Chat(
        data["id"], data["type"], data.get("title"), data.get("username"), data.get("creator_id")
    )


class EmulatorClient(ObserveMixin):
    # ----- world ----------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return await self._get("/health")  # type: ignore[no-any-return]

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def settings(self, **values: Any) -> dict[str, Any]:
        """Change settings (webhook_timeout, backoff_base, ...) and return them all."""
        if values:
            return await self._call("PATCH", "/settings", values)  # type: ignore[no-any-return]
        return await self._get("/settings")  # type: ignore[no-any-return]

    async def advance_clock(self, seconds: float) -> int:
        return int((await self._call("POST", "/clock", {"advance": seconds}))["now"])

    async def create_bot(
        self,
        username: str,
        *,
        first_name: str | None = None,
        token: str | None = None,
        can_read_all_group_messages: bool = False,
    ) -> Bot:
        data = await self._call(
            "POST",
            "/bots",
            {
                "username": username,
                "first_name": first_name,
                "token": token,
                "can_read_all_group_messages": can_read_all_group_messages,
            },
        )
        return Bot(data["id"], data["username"], data["first_name"], data["token"])

    async def create_user(
        self,
        first_name: str,
        username: str | None = None,
        *,
        is_bot: bool = False,
        last_name: str | None = None,
        language_code: str | None = None,
        is_premium: bool = False,
    ) -> User:
        data = await self._call(
            "POST",
            "/users",
            {
                "first_name": first_name,
                "username": username,
                "is_bot": is_bot,
                "last_name": last_name,
                "language_code": language_code,
                "is_premium": is_premium,
            },
        )
        return User(data["id"], data["first_name"], data.get("username"), data["is_bot"])

    async def create_chat(
        self,
        type: str = "supergroup",
        title: str = "Group",
        *,
        username: str | None = None,
        is_forum: bool = False,
        permissions: dict[str, bool] | None = None,
        linked_chat_id: int | None = None,
        creator_id: int | None = None,
        **settings: Any,
    ) -> Chat:
        """settings: description, join_by_request, join_to_send_messages, has_hidden_members..."""
        payload = {"type": type, "title": title, "is_forum": is_forum, **settings}
        for key, value in (
            ("username", username),
            ("permissions", permissions),
            ("linked_chat_id", linked_chat_id),
            ("creator_id", creator_id),
        ):
            if value is not None:
                payload[key] = value
        return _chat(await self._call("POST", "/chats", payload))

    async def chat(self, chat_id: int) -> dict[str, Any]:
        return await self._get(f"/chats/{chat_id}")  # type: ignore[no-any-return]

    async def update_chat(self, chat_id: int, **values: Any) -> dict[str, Any]:
        return await self._call("PATCH", f"/chats/{chat_id}", values)  # type: ignore[no-any-return]

    async def migrate_chat(self, chat_id: int) -> Chat:
        return _chat(await self._call("POST", f"/chats/{chat_id}/migrate"))

    async def create_topic(self, chat_id: int, name: str) -> int:
        data = await self._call("POST", f"/chats/{chat_id}/topics", {"name": name})
        return int(data["message_thread_id"])

    async def set_member(
        self, chat_id: int, user_id: int, status: str, **fields: Any
    ) -> dict[str, Any]:
        """Set a status; fields are can_* rights or permissions, until_date, is_anonymous,
        custom_title, is_member, actor_id, service. The bot's own changes emit my_chat_member."""
        payload = {"status": status, **fields}
        return await self._call(  # type: ignore[no-any-return]
            "PUT", f"/chats/{chat_id}/members/{user_id}", payload
        )

    async def member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        return await self._get(f"/chats/{chat_id}/members/{user_id}")  # type: ignore[no-any-return]

    async def members(self, chat_id: int) -> list[dict[str, Any]]:
        return await self._get(f"/chats/{chat_id}/members")  # type: ignore[no-any-return]

    # ----- what users do --------------------------------------------------------------------

    async def user_starts_bot(
        self, user_id: int, *, bot_id: int | None = None, payload: str = ""
    ) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/users/{user_id}/start", {"bot_id": bot_id, "payload": payload}
        )

    async def block_bot(
        self, user_id: int, *, bot_id: int | None = None, blocked: bool = True
    ) -> None:
        await self._call("POST", f"/users/{user_id}/block", {"bot_id": bot_id, "blocked": blocked})

    async def send_message(
        self,
        chat_id: int,
        user_id: int | None = None,
        text: str | None = None,
        *,
        media: str | None = None,
        caption: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
        sender_chat_id: int | None = None,
        is_automatic_forward: bool = False,
        edit_of: int | None = None,
        bot_id: int | None = None,
    ) -> dict[str, Any]:
        """Post as a user (refused like a real client if they may not post); media is one of
        photo, video, document, audio, voice, video_note, sticker, animation."""
        payload: dict[str, Any] = {"user_id": user_id, "is_automatic_forward": is_automatic_forward}
        for key, value in (
            ("text", text),
            ("media", media),
            ("caption", caption),
            ("reply_to", reply_to),
            ("thread_id", thread_id),
            ("sender_chat_id", sender_chat_id),
            ("edit_of", edit_of),
            ("bot_id", bot_id),
        ):
            if value is not None:
                payload[key] = value
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/chats/{chat_id}/messages", payload
        )

    async def press_button(
        self,
        chat_id: int,
        message_id: int,
        user_id: int,
        callback_data: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
        wait: bool = True,
        bot_id: int | None = None,
    ) -> CallbackAnswer:
        """Press an inline button; waits up to `timeout` for answerCallbackQuery."""
        data = await self._call(
            "POST",
            f"/chats/{chat_id}/messages/{message_id}/press",
            {
                "user_id": user_id,
                "data": callback_data,
                "timeout": timeout,
                "wait": wait,
                "bot_id": bot_id,
            },
            timeout=timeout + 10,
        )
        return CallbackAnswer(
            data["query_id"],
            data["answered"],
            data.get("text"),
            bool(data.get("show_alert")),
            data.get("url"),
        )

    async def join_chat(
        self, chat_id: int, user_id: int, invite_link: str | None = None
    ) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/chats/{chat_id}/join", {"user_id": user_id, "invite_link": invite_link}
        )

    async def leave_chat(self, chat_id: int, user_id: int) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/chats/{chat_id}/leave", {"user_id": user_id}
        )

    async def request_join(
        self, chat_id: int, user_id: int, *, bio: str | None = None, invite_link: str | None = None
    ) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST",
            f"/chats/{chat_id}/join_requests",
            {"user_id": user_id, "bio": bio, "invite_link": invite_link},
        )

    async def bulk_messages(
        self, chat_ids: list[int], user_ids: list[int], count: int, text: str = "hello"
    ) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "POST",
            "/bulk/messages",
            {"chat_ids": chat_ids, "user_ids": user_ids, "count": count, "text": text},
            timeout=600,
        )

    async def wait_for_member_status(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            member = await self.member(chat_id, user_id)
            return member if member["status"] == status else None

        return await wait_for(
            probe, timeout=timeout, message=f"user {user_id} never became {status} in {chat_id}"
        )
