"""Deletes prompts whose lifetime is over. Its sweep runs every second on every
instance (delivery.periodic); each due prompt is claimed by exactly one of them
(PromptStore.claim_due)."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from gmbot.domain.ports import PromptStore, TelegramGateway
from gmbot.domain.telegram import RetryLater, TelegramError, TelegramUnavailable

log = structlog.get_logger(__name__)

RETRY_AFTER = 5.0  # seconds before a prompt Telegram could not delete is tried again


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
            except (TelegramUnavailable, RetryLater) as err:
                # Telegram could not now: the prompt must still go, a little later.
                wait = getattr(err, "retry_after", None) or RETRY_AFTER
                await self._prompts.schedule_deletion(item, self._clock() + wait)
                log.info("prompt_expiry_delete_retry", chat_id=item.chat_id, error=str(err))
            except TelegramError as err:  # gone already, or no right: nothing left to do
                log.info("prompt_expiry_delete_failed", chat_id=item.chat_id, error=str(err))
        return len(due)
