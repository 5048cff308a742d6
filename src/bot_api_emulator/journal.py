"""What happened, for tests to assert on: bot requests, webhook delivery attempts, conformance.

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


@dataclass(slots=True)
class ConformanceRecord:
    at: float
    bot_id: int
    method: str
    parameter: str
    problem: str
    detail: str


class Journal:
    def __init__(self, request_limit: int, delivery_limit: int) -> None:
        self.requests: deque[RequestRecord] = deque(maxlen=request_limit)
        self.deliveries: deque[DeliveryRecord] = deque(maxlen=delivery_limit)
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
