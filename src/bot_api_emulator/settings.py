"""Tunable behaviour of the emulator.

Defaults follow Telegram; tests shrink the timeouts and backoff so that redelivery scenarios run
in milliseconds instead of minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Settings:
    # Webhook delivery: a delivery that gets no answer within this many seconds counts as failed.
    webhook_timeout: float = 60.0
    # Telegram resends a failed update at once, then waits 2, 4, 8... seconds (base * 2**n).
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    # Retry-After values from the webhook are multiplied by this (tests use e.g. 0.01).
    retry_after_scale: float = 1.0
    # Telegram keeps an undelivered update for 24 hours.
    update_ttl: float = 86400.0
    # getUpdates: Telegram caps `timeout` at 50 seconds.
    long_poll_max_timeout: float = 50.0
    # answerCallbackQuery must come before the query gets this old.
    callback_query_ttl: float = 15.0
    # Telegram's flood limits (off by default so functional tests are not throttled); the
    # buckets and which methods count are described in ratelimit.py.
    rate_limits: bool = False
    rate_group_per_minute: int = 20
    # State-changing calls ("writes") per bot, messages included: Telegram's 30 a second.
    rate_global_per_second: int = 30
    # getChat, getChatMember and other reads per bot; Telegram publishes no figure.
    rate_reads_per_second: int = 100
    rate_private_per_second: float = 1.0
    rate_private_burst: int = 3
    # Bounded logs so a long load test does not grow memory without limit.
    journal_limit: int = 100_000
    delivery_log_limit: int = 200_000
    message_log_limit: int = 200_000

    def update(self, values: dict[str, Any]) -> None:
        """Apply a partial update from the control API, converting to each field's type."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in names:
                raise KeyError(key)
            current = getattr(self, key)
            if isinstance(current, bool):
                setattr(self, key, bool(value))
            elif isinstance(current, int):
                setattr(self, key, int(value))
            else:
                setattr(self, key, float(value))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
