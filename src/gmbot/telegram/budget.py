"""The time budget of the update being handled.

A webhook request must be answered within Telegram's timeout, so the handler
sets a deadline; Bot API retries never wait past it. Polling sets none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("gmbot_deadline", default=None)


def remaining() -> float | None:
    """Seconds left for the current update, or None without a deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - time.monotonic()


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)
