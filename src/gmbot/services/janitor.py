"""Deletes prompts whose lifetime is over. Its sweep runs every second on every
instance (delivery.periodic); each due prompt is claimed by exactly one of them
(PromptStore.claim_due)."""

from __future__ import annotations

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prompts = prompts
        self._telegram = telegram
        self._clock = clock

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
