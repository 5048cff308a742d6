"""Time for the fakes: every TTL is measured on a FakeClock, advanced by the test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Seconds since the epoch, moved only by advance()."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start.timestamp()

    def __call__(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class Expiring:
    """A stored value and the FakeClock second it stops being live."""

    value: Any
    expires: float
