"""Deletes prompts whose lifetime is over. Runs on every instance; each due
prompt is claimed by exactly one of them (PromptStore.claim_due)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from gmbot.domain.ports import PromptStore, TelegramGateway
from gmbot.domain.telegram import RetryLater, TelegramError

log = structlog.get_logger(__name__)


class PromptJanitor:
    def __init__(
        self,
        prompts: PromptStore,
        telegram: TelegramGateway,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prompts = prompts
        self._telegram = telegram
        self._interval = interval
        self._clock = clock
        self._stopping = asyncio.Event()

    async def sweep(self) -> int:
        """Delete every due prompt once; returns how many were handled."""
        due = await self._prompts.claim_due(self._clock())
        for item in due:
            if item.user_id is not None and (
                await self._prompts.current(item.chat_id, item.user_id) == item.message_id
            ):
                await self._prompts.clear(item.chat_id, item.user_id)
            try:
                await self._telegram.delete_message(item.chat_id, item.message_id)
            except (TelegramError, RetryLater) as err:
                log.info("prompt_expiry_delete_failed", chat_id=item.chat_id, error=str(err))
        return len(due)

    async def run(self) -> None:
        # Stopped by an event rather than by cancellation alone: a cancel that lands
        # inside a Redis call can be swallowed by the client library.
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # the janitor must outlive a Redis hiccup
                log.exception("prompt_janitor_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def stop(self) -> None:
        self._stopping.set()
