"""Outer middleware: log context, metrics and the outcome of every update."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from gmbot.metrics import Metrics

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _ids(update: Update) -> tuple[int | None, int | None]:
    event = update.event
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)  # callback queries
        chat = getattr(message, "chat", None)
    user = getattr(event, "from_user", None)
    return (chat.id if chat else None, user.id if user else None)


class UpdateContextMiddleware(BaseMiddleware):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        kind = event.event_type
        chat_id, user_id = _ids(event)
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(
            update_id=event.update_id, chat_id=chat_id, user_id=user_id
        ):
            try:
                result = await handler(event, data)
            except BaseException:
                self._metrics.count_update(kind, "error")
                raise
            finally:
                self._metrics.observe_latency(kind, time.perf_counter() - started)
        outcome = (
            "unhandled" if result is UNHANDLED else (result if isinstance(result, str) else "ok")
        )
        self._metrics.count_update(kind, outcome)
        return result
