"""TelegramGateway over aiogram's Bot: flood limits, retries, time budget, error translation.

Before each Bot API call the gateway waits its turn at the fleet-wide rate limiter
(the limits of that method, see gmbot.telegram.flood), with the priority of the action
being carried out (gmbot.domain.actions.CURRENT_PRIORITY). Within a webhook request a
wait that would outlast the request's budget raises RetryLater; workers wait. The
limiter is advisory: when it cannot be reached, calls go on without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

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
    BanChatMember,
    CreateChatInviteLink,
    DeleteMessage,
    DeleteMessages,
    EditMessageReplyMarkup,
    EditMessageText,
    GetChat,
    GetChatAdministrators,
    GetChatMember,
    GetMe,
    GetMyCommands,
    RestrictChatMember,
    SendMessage,
    SetMyCommands,
    UnbanChatMember,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeDefault,
    BotCommandScopeUnion,
)

from gmbot.domain.actions import CURRENT_PRIORITY
from gmbot.domain.fencing import check_fence
from gmbot.domain.ports import RateLimiter, TelegramGateway
from gmbot.domain.telegram import (
    BadRequest,
    BotIdentity,
    ChatInfo,
    CommandScope,
    Keyboard,
    MemberInfo,
    Permissions,
    RetryLater,
    ScopeType,
    TelegramError,
    TelegramUnavailable,
)
from gmbot.metrics import Metrics
from gmbot.telegram import budget, convert
from gmbot.telegram.errors import classify, error_kind
from gmbot.telegram.flood import WRITE_METHODS, CallLimits, limits_for, spread, wait_turn

T = TypeVar("T")

# deleteMessages takes 1-100 message ids.
MAX_DELETE_BATCH = 100
# setMyCommands takes at most 100 commands.
MAX_COMMANDS = 100
# Answers that are expected and need no log line: something already gone, an edit that
# changes nothing.
_QUIET = ("not found", "message is not modified")

log = structlog.get_logger(__name__)


class AiogramGateway(TelegramGateway):
    def __init__(
        self,
        bot: Bot,
        metrics: Metrics,
        limiter: RateLimiter | None = None,
        *,
        transient_retries: int = 2,
        retry_base: float = 0.5,
        max_retry_after: float = 120.0,
        call_timeout: float = 10.0,
        limiter_warning_interval: float = 60.0,
    ) -> None:
        self._bot = bot
        self._metrics = metrics
        self._limiter = limiter
        self._limiter_warning_interval = limiter_warning_interval
        self._limiter_warned_at: float | None = None
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

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> None:
        ids = list(message_ids)
        if not 1 <= len(ids) <= MAX_DELETE_BATCH:
            raise ValueError(f"deleteMessages takes 1-{MAX_DELETE_BATCH} ids, not {len(ids)}")
        try:
            await self._call(DeleteMessages(chat_id=chat_id, message_ids=ids))
        except BadRequest as err:
            # Every one of them was gone already: nothing is left to delete.
            if "message to delete not found" not in err.description.lower():
                raise

    async def edit_message(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> bool:
        method = EditMessageText(
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            parse_mode="HTML",
            reply_markup=convert.keyboard(keyboard),
            link_preview_options=None,
        )
        try:
            await self._call(method)
        except BadRequest as err:
            low = err.description.lower()
            if "message is not modified" in low:
                return True  # it already reads so
            if "message to edit not found" in low:
                return False
            raise
        return True

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

    async def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> bool:
        method = EditMessageReplyMarkup(
            chat_id=chat_id, message_id=message_id, reply_markup=convert.keyboard(keyboard)
        )
        try:
            await self._call(method)
        except BadRequest as err:
            low = err.description.lower()
            if "message is not modified" in low:
                return True  # it already has that keyboard
            if "message to edit not found" in low:
                return False
            raise
        return True

    async def ban(
        self,
        chat_id: int,
        user_id: int,
        *,
        until: datetime | None = None,
        revoke_messages: bool = False,
    ) -> None:
        await self._call(
            BanChatMember(
                chat_id=chat_id,
                user_id=user_id,
                until_date=until,
                revoke_messages=revoke_messages,
            )
        )

    async def unban(self, chat_id: int, user_id: int, *, only_if_banned: bool = True) -> None:
        # A basic group has no ban list: Telegram's "supergroup and channel chats only"
        # is classified as NotEnoughRights, like a restriction there (telegram/errors.py).
        await self._call(
            UnbanChatMember(chat_id=chat_id, user_id=user_id, only_if_banned=only_if_banned)
        )

    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        scope: CommandScope,
        language: str | None = None,
    ) -> None:
        listed = [BotCommand(command=name, description=text) for name, text in commands]
        if len(listed) > MAX_COMMANDS:
            raise ValueError(f"setMyCommands takes at most {MAX_COMMANDS} commands")
        await self._call(
            SetMyCommands(commands=listed, scope=_scope(scope), language_code=language)
        )

    async def get_commands(
        self, scope: CommandScope, language: str | None = None
    ) -> list[tuple[str, str]]:
        found = await self._call(GetMyCommands(scope=_scope(scope), language_code=language))
        return [(c.command, c.description) for c in found]

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

    async def _wait_turn(self, limits: CallLimits) -> None:
        """Wait for the limiter's go for every limit of the call, within the budget."""
        if self._limiter is None or not limits.limits:
            return
        left = budget.remaining()
        deadline = None if left is None else time.monotonic() + left
        try:
            await wait_turn(self._limiter, limits.limits, CURRENT_PRIORITY.get(), deadline=deadline)
        except RetryLater:
            raise
        except Exception as exc:  # the limiter is advisory: never fail a call for it
            self._limiter_failed(exc)

    async def _hold(self, limits: CallLimits, seconds: float) -> bool:
        """Tell every instance about a 429; False when the limiter could not be told."""
        if self._limiter is None or limits.hold is None:
            return False
        try:
            await self._limiter.hold(limits.hold, seconds)
        except Exception as exc:
            self._limiter_failed(exc)
            return False
        return True

    def _limiter_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        last = self._limiter_warned_at
        if last is None or now - last >= self._limiter_warning_interval:
            self._limiter_warned_at = now
            log.warning("rate_limiter_unavailable", error=repr(exc))

    async def _call(self, method: TelegramMethod[T]) -> T:
        name = method.__api_method__
        limits = limits_for(name, getattr(method, "chat_id", None))
        attempt = 0
        while True:
            await self._wait_turn(limits)
            # Last moment to find the work gone to another holder (this process was
            # frozen, or waited past its lease): then the call is not made at all.
            check_fence()
            self._metrics.api_calls.labels(self._metrics.instance_id, name).inc()
            try:
                result = await self._bot(method, request_timeout=max(1, round(self._timeout)))
                self._last_ok = time.time()
                return result
            except TelegramRetryAfter as exc:
                self._metrics.api_429.labels(self._metrics.instance_id, name).inc()
                wait = float(exc.retry_after)
                held = await self._hold(limits, wait)
                left = budget.remaining()
                log.warning("telegram_retry_after", method=name, retry_after=wait)
                if left is not None and wait >= left:
                    raise RetryLater(wait) from exc
                if wait > self._max_retry_after:
                    raise TelegramUnavailable(exc.message, name, retry_after=wait) from exc
                if not held:  # else the limiter holds the next attempt back
                    pause = spread(wait)
                    await asyncio.sleep(pause if left is None else min(pause, left))
                continue
            except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
                attempt += 1
                delay = self._retry_base * 2 ** (attempt - 1)
                left = budget.remaining()
                text = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
                # A write sent and never answered (a timeout, a dropped connection) may
                # still be carried out by Telegram: sending it again at once could do it
                # twice, so the caller decides, after looking, once the outcome shows.
                unknown = name in WRITE_METHODS and _maybe_applied(exc)
                if unknown or attempt > self._retries or (left is not None and delay >= left):
                    self._count_error(name, "TelegramUnavailable")
                    self._last_error = (time.time(), text)
                    log.warning(
                        "telegram_unavailable", method=name, error=text, attempts=attempt,
                        outcome_unknown=unknown,
                    )  # fmt: skip
                    raise TelegramUnavailable(text, name, outcome_unknown=unknown) from exc
                await asyncio.sleep(delay)
            except TelegramAPIError as exc:
                err = classify(exc, name)
                self._count_error(name, error_kind(err))
                expected = any(phrase in exc.message for phrase in _QUIET)
                if not (isinstance(exc, TelegramBadRequest) and expected):
                    log.info("telegram_error", method=name, error=exc.message)
                raise err from exc

    def _count_error(self, method: str, kind: str) -> None:
        self._metrics.api_errors.labels(self._metrics.instance_id, method, kind).inc()


# aiogram's texts for a request that never reached Telegram (the connection could not
# be made): safe to send again. Any other network error may have been applied.
_NOT_SENT = ("ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorSSLError")


def _maybe_applied(exc: Exception) -> bool:
    if not isinstance(exc, TelegramNetworkError):
        return False  # Telegram answered (5xx) or sent something unreadable: not applied
    return not exc.message.startswith(_NOT_SENT)


def _scope(scope: CommandScope) -> BotCommandScopeUnion:
    """aiogram's BotCommandScope object for a domain scope."""
    match scope.type:
        case ScopeType.DEFAULT:
            return BotCommandScopeDefault()
        case ScopeType.ALL_PRIVATE_CHATS:
            return BotCommandScopeAllPrivateChats()
        case ScopeType.ALL_GROUP_CHATS:
            return BotCommandScopeAllGroupChats()
        case ScopeType.ALL_CHAT_ADMINISTRATORS:
            return BotCommandScopeAllChatAdministrators()
        case ScopeType.CHAT:
            assert scope.chat_id is not None  # CommandScope checks it
            return BotCommandScopeChat(chat_id=scope.chat_id)
        case ScopeType.CHAT_ADMINISTRATORS:
            assert scope.chat_id is not None
            return BotCommandScopeChatAdministrators(chat_id=scope.chat_id)
