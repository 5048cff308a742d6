"""What happened, for tests to assert on: bot requests, webhook delivery attempts, conformance,
and the life of every message (when it appeared, when and by which bot it was deleted).

Records are appended on hot paths, so they stay raw (answer bytes, raw params) and are decoded
only when read through the control API.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    seq: int
    at: float
    bot_id: int
    method: str
    params: dict[str, Any]
    status: int
    answer: bytes
    via: str  # "http" or "webhook_response"


@dataclass(slots=True)
class DeliveryRecord:
    seq: int
    at: float
    bot_id: int
    update_id: int
    url: str
    attempt: int
    status: int | None
    ok: bool
    error: str | None
    duration: float
    queue: int
    waited: float  # seconds from the update's creation to the start of this attempt


@dataclass(slots=True)
class MessageRecord:
    """One message's life: a deleted message leaves the world but not this log."""

    seq: int
    chat_id: int
    peer: int  # the bot id in a private chat, 0 elsewhere
    message_id: int
    sender_id: int | None
    sender_chat_id: int | None
    from_bot: bool
    posted_at: float
    deleted_at: float | None = None
    deleted_by: int | None = None  # the bot that deleted it


class MessageLog:
    """Messages by (chat, peer, id), oldest dropped first beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.records: dict[tuple[int, int, int], MessageRecord] = {}
        self._seq = 0

    def posted(
        self,
        chat_id: int,
        peer: int,
        message_id: int,
        sender_id: int | None,
        sender_chat_id: int | None,
        from_bot: bool,
    ) -> None:
        self._seq += 1
        key = (chat_id, peer, message_id)
        self.records[key] = MessageRecord(
            self._seq, chat_id, peer, message_id, sender_id, sender_chat_id, from_bot, time.time()
        )
        while len(self.records) > self.limit:
            del self.records[next(iter(self.records))]

    def deleted(self, chat_id: int, peer: int, message_id: int, by: int | None) -> None:
        record = self.records.get((chat_id, peer, message_id))
        if record is not None and record.deleted_at is None:
            record.deleted_at = time.time()
            record.deleted_by = by

    def clear(self) -> None:
        self.records.clear()


@dataclass(slots=True)
class ConformanceRecord:
    at: float
    bot_id: int
    method: str
    parameter: str
    problem: str
    detail: str


class Journal:
    def __init__(self, request_limit: int, delivery_limit: int, message_limit: int) -> None:
        self.requests: deque[RequestRecord] = deque(maxlen=request_limit)
        self.deliveries: deque[DeliveryRecord] = deque(maxlen=delivery_limit)
        self.messages = MessageLog(message_limit)
        self.conformance: list[ConformanceRecord] = []
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def request(
        self, bot_id: int, method: str, params: dict[str, Any], status: int, answer: bytes, via: str
    ) -> None:
        self.requests.append(
            RequestRecord(self._next(), time.time(), bot_id, method, params, status, answer, via)
        )

    def delivery(
        self,
        bot_id: int,
        update_id: int,
        url: str,
        attempt: int,
        status: int | None,
        error: str | None,
        duration: float,
        queue: int,
        waited: float,
    ) -> None:
        self.deliveries.append(
            DeliveryRecord(
                self._next(),
                time.time(),
                bot_id,
                update_id,
                url,
                attempt,
                status,
                error is None,
                error,
                duration,
                queue,
                waited,
            )
        )

    def nonconformance(
        self, bot_id: int, method: str, parameter: str, problem: str, detail: str
    ) -> None:
        self.conformance.append(
            ConformanceRecord(time.time(), bot_id, method, parameter, problem, detail)
        )

    def clear(self) -> None:
        self.requests.clear()
        self.deliveries.clear()
        self.conformance.clear()
        self.messages.clear()
