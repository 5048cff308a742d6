"""Telegram's flood limits on sending messages, answered with 429 and retry_after.

Limits (documented by Telegram): about 30 messages a second per bot overall, 20 a minute per
group, and about one a second per private chat (short bursts tolerated).
"""

from __future__ import annotations

import math
import time
from collections import deque

from .errors import too_many_requests
from .settings import Settings


class _Window:
    """At most `limit` events in any `span` seconds."""

    __slots__ = ("events", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.events: deque[float] = deque()
        self.limit = limit
        self.span = span

    def wait_time(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.span:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[0] + self.span - now


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: dict[tuple[int, int], _Window] = {}

    def reset(self) -> None:
        self._windows.clear()

    def _window(self, key: tuple[int, int], limit: int, span: float) -> _Window:
        window = self._windows.get(key)
        if window is None or window.limit != limit or window.span != span:
            window = _Window(limit, span)
            self._windows[key] = window
        return window

    def check_send(self, bot_id: int, chat_id: int, chat_type: str) -> None:
        """Count one outgoing message, or raise 429 if a limit is exhausted."""
        if not self.settings.rate_limits:
            return
        s = self.settings
        now = time.monotonic()
        windows = [self._window((bot_id, 0), s.rate_global_per_second, 1.0)]
        if chat_type == "private":
            span = s.rate_private_burst / s.rate_private_per_second
            windows.append(self._window((bot_id, chat_id), s.rate_private_burst, span))
        else:
            windows.append(self._window((bot_id, chat_id), s.rate_group_per_minute, 60.0))
        wait = max(w.wait_time(now) for w in windows)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for window in windows:
            window.events.append(now)
