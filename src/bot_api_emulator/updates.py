"""Per-bot update queue: update ids, allowed_updates filtering and getUpdates long polling.

An update is serialized once when created; webhook delivery and getUpdates reuse the bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import CONFLICT_OTHER_GET_UPDATES, ApiError

ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# Telegram's default when allowed_updates is empty: everything but these three.
DEFAULT_ALLOWED = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


@dataclass(slots=True)
class PendingUpdate:
    update_id: int
    kind: str
    body: bytes
    queue: int  # delivery queue: the chat, or the user for updates without a chat
    created: float  # event-loop time
    attempts: int = 0
    done: bool = False


@dataclass(slots=True)
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class BotUpdates:
    def __init__(self, bot_id: int, history_limit: int = 20_000) -> None:
        self.bot_id = bot_id
        self.next_id = 1
        self.order: deque[PendingUpdate] = deque()
        self.pending_count = 0
        self.allowed: frozenset[str] = DEFAULT_ALLOWED
        self.explicit_allowed: list[str] | None = None
        self.webhook: WebhookConfig | None = None
        self.paused = False
        # Webhook delivery hooks a callback here to receive new updates.
        self.on_new: Callable[[PendingUpdate], None] | None = None
        self.history: deque[PendingUpdate] = deque(maxlen=history_limit)
        self._poll: asyncio.Future[None] | None = None

    # ----- filtering ------------------------------------------------------------------------

    def set_allowed(self, value: Any) -> None:
        """Apply an allowed_updates parameter: absent keeps the setting, [] means the default."""
        if value is None:
            return
        names = [str(v).lower() for v in value] if isinstance(value, list) else []
        known = [n for n in names if n in ALL_UPDATE_TYPES]
        self.explicit_allowed = known or None
        self.allowed = frozenset(known) if known else DEFAULT_ALLOWED

    def wants(self, kind: str) -> bool:
        return kind in self.allowed

    # ----- queue ----------------------------------------------------------------------------

    def push(self, kind: str, payload: dict[str, Any], queue: int, now: float) -> PendingUpdate:
        update_id = self.next_id
        self.next_id += 1
        body = json.dumps({"update_id": update_id, kind: payload}, ensure_ascii=False).encode()
        update = PendingUpdate(update_id, kind, body, queue, now)
        self.order.append(update)
        self.history.append(update)
        self.pending_count += 1
        if self.on_new is not None:
            self.on_new(update)
        elif self._poll is not None and not self._poll.done():
            self._poll.set_result(None)
        return update

    def forget(self, update: PendingUpdate) -> None:
        if not update.done:
            update.done = True
            self.pending_count -= 1
        # Confirmed updates leave the front lazily; the middle is skipped via `done`.
        while self.order and self.order[0].done:
            self.order.popleft()

    def drop_all(self) -> None:
        for update in self.order:
            update.done = True
        self.order.clear()
        self.pending_count = 0

    def pending(self) -> list[PendingUpdate]:
        return [u for u in self.order if not u.done]

    # ----- getUpdates -----------------------------------------------------------------------

    def _confirm(self, offset: int) -> int:
        if offset < 0:
            offset = max(self.next_id + offset, 1)
        while self.order and (self.order[0].done or self.order[0].update_id < offset):
            self.forget(self.order[0])
        return offset

    def _collect(self, offset: int, limit: int) -> list[PendingUpdate]:
        if self.paused:
            return []
        batch: list[PendingUpdate] = []
        for update in self.order:
            if not update.done and update.update_id >= offset:
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    def abort_poll(self, description: str) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.set_exception(ApiError(409, description))
        self._poll = None

    def wake(self) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.set_result(None)

    async def get_updates(self, offset: int, limit: int, wait: float) -> list[PendingUpdate]:
        offset = self._confirm(offset)
        batch = self._collect(offset, limit)
        if batch or wait <= 0:
            return batch
        # A second waiting long poll ends the first one with a conflict, as Telegram does.
        self.abort_poll(CONFLICT_OTHER_GET_UPDATES)
        poll: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poll = poll
        try:
            async with asyncio.timeout(wait):
                await poll
        except TimeoutError:
            return []
        finally:
            if self._poll is poll:
                self._poll = None
        # Let updates produced in the same burst join this answer.
        await asyncio.sleep(0)
        return self._collect(offset, limit)
