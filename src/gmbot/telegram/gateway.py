"""TelegramGateway over aiogram's Bot: retries, time budget, error translation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Protocol, TypeVar

import structlog
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    CreateChatInviteLink,
    DeleteMessage,
    GetChat,
    GetChatAdministrators,
    GetChatMember,
    GetMe,
    RestrictChatMember,
    SendMessage,
)
from aiogram.methods.base import TelegramMethod

from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import (
    BotIdentity,
    ChatInfo,
    Keyboard,
    MemberInfo,
    Permissions,
    RetryLater,
    TelegramError,
    TelegramUnavailable,
)
from gmbot.metrics import Metrics
from gmbot.telegram import budget, convert
from gmbot.telegram.errors import classify, error_kind

T = TypeVar("T")


class SharedBackoff(Protocol):
    async def wait_for(self, chat_id: int | str | None) -> float: ...

    async def hold(self, chat_id: int | str | None, seconds: float) -> None: ...


log = structlog.get_logger(__name__)


class AiogramGateway(TelegramGateway):
    def __init__(
        self,
        bot: Bot,
        metrics: Metrics,
        backoff: SharedBackoff | None = None,
        *,
        transient_retries: int = 2,
        retry_base: float = 0.5,
        max_retry_after: float = 120.0,
        call_timeout: float = 10.0,
    ) -> None:
        self._bot = bot
        self._metrics = metrics
        self._backoff = backoff
        self._retries = transient_retries
        self._retry_base = retry_base
        self._max_retry_after = max_retry_after
        self._timeout = call_timeout
        self._last_ok: float | None = None
        self._last_error: tuple[float, str] | None = None

    def status(self) -> dict[str, object]:
        """When the Bot API last answered, and its last failure (for /ready)."""
        return {
            "last_ok": self._last_ok,
            "last_error_at": self._last_error[0] if self._last_error else None,
            "last_error": self._last_error[1] if self._last_error else None,
        }

    # ------------------------------------------------------------------ calls

    async def get_me(self) -> BotIdentity:
        me = await self._call(GetMe())
        return BotIdentity(id=me.id, username=me.username or "", first_name=me.first_name)

    async def get_chat(self, chat: int | str) -> ChatInfo:
        return convert.chat_info(await self._call(GetChat(chat_id=chat)))

    async def get_member(self, chat_id: int, user_id: int) -> MemberInfo:
        member = await self._call(GetChatMember(chat_id=chat_id, user_id=user_id))
        return convert.member_info(member)

    async def get_admins(self, chat_id: int) -> list[MemberInfo]:
        admins = await self._call(GetChatAdministrators(chat_id=chat_id))
        return [convert.member_info(m) for m in admins]

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        thread_id: int | None = None,
    ) -> int:
        method = SendMessage(
            chat_id=chat_id,
            text=text,
            parse_mode="HTML",
            reply_markup=convert.keyboard(keyboard),
            message_thread_id=thread_id,
            link_preview_options=None,
        )
        return (await self._call(method)).message_id

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        try:
            return await self._call(DeleteMessage(chat_id=chat_id, message_id=message_id))
        except TelegramError as err:
            if "not found" in err.description.lower():
                return False
            raise

    async def restrict(
        self, chat_id: int, user_id: int, permissions: Permissions, until: datetime | None = None
    ) -> None:
        await self._call(
            RestrictChatMember(
                chat_id=chat_id,
                user_id=user_id,
                permissions=convert.permissions(permissions),
                until_date=until,
                use_independent_chat_permissions=True,
            )
        )

    async def answer_callback(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        try:
            await self._call(
                AnswerCallbackQuery(callback_query_id=callback_id, text=text, show_alert=alert)
            )
        except TelegramError as err:
            # An expired query cannot be answered any more; nothing is lost by that.
            log.info("callback_answer_failed", error=err.description)

    async def create_invite_link(self, chat_id: int) -> str:
        link = await self._call(CreateChatInviteLink(chat_id=chat_id, name="GMBot"))
        return link.invite_link

    # ------------------------------------------------------------------ policy

    async def _shared_wait(self, chat: int | str | None) -> None:
        """Hold back while any instance was told to (retry_after), within the budget."""
        if self._backoff is None:
            return
        try:
            wait = await self._backoff.wait_for(chat)
        except Exception:  # the shared backoff is advisory: never fail a call for it
            return
        if wait <= 0:
            return
        left = budget.remaining()
        if left is not None and wait >= left:
            raise RetryLater(wait)
        await asyncio.sleep(wait)

    async def _share(self, chat: int | str | None, seconds: float) -> None:
        if self._backoff is None:
            return
        with contextlib.suppress(Exception):
            await self._backoff.hold(chat, seconds)

    async def _call(self, method: TelegramMethod[T]) -> T:
        name = method.__api_method__
        chat = getattr(method, "chat_id", None)
        attempt = 0
        while True:
            await self._shared_wait(chat)
            self._metrics.api_calls.labels(self._metrics.instance_id, name).inc()
            try:
                result = await self._bot(method, request_timeout=int(self._timeout))
                self._last_ok = time.time()
                return result
            except TelegramRetryAfter as exc:
                self._metrics.api_429.labels(self._metrics.instance_id, name).inc()
                wait = float(exc.retry_after)
                await self._share(chat, wait)
                left = budget.remaining()
                log.warning("telegram_retry_after", method=name, retry_after=wait)
                if left is not None and wait >= left:
                    raise RetryLater(wait) from exc
                if wait > self._max_retry_after:
                    raise TelegramUnavailable(exc.message, name, retry_after=wait) from exc
                await asyncio.sleep(wait)
                continue
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
                attempt += 1
                delay = self._retry_base * 2 ** (attempt - 1)
                left = budget.remaining()
                text = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
                if attempt > self._retries or (left is not None and delay >= left):
                    self._count_error(name, "TelegramUnavailable")
                    self._last_error = (time.time(), text)
                    log.warning("telegram_unavailable", method=name, error=text, attempts=attempt)
                    raise TelegramUnavailable(text, name) from exc
                await asyncio.sleep(delay)
            except TelegramAPIError as exc:
                err = classify(exc, name)
                self._count_error(name, error_kind(err))
                if not isinstance(exc, TelegramBadRequest) or "not found" not in exc.message:
                    log.info("telegram_error", method=name, error=exc.message)
                raise err from exc

    def _count_error(self, method: str, kind: str) -> None:
        self._metrics.api_errors.labels(self._metrics.instance_id, method, kind).inc()
