"""Fencing: work done under a lease stops once the lease may have passed to another.

An update's lease and an outbox entry's claim each get a Fence whose deadline is the
last moment this holder is sure the work is still its own: when its latest renewal was
asked for, plus the lease's length, less a margin for clocks and the call in flight. A
process frozen past its lease (SIGSTOP, a long GC pause, a stalled VM) finds, when it
resumes, the deadline gone by on the monotonic clock and makes no further call for that
work; a renewal Redis refused (another holder has it) marks the fence lost at once.

The gateway checks the fence of the work it is called for (CURRENT_FENCE, set by
whoever runs the work) before every Bot API call, and the Redis scripts that record
outbox entries or mark an update done check the lease token itself, so a stale holder
can neither act nor write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class LeaseLost(Exception):
    """The work's lease passed (or may have passed) to another holder: stop, quietly."""


class Fence:
    __slots__ = ("_clock", "_closed", "_deadline", "_lost", "name", "redis_key", "token")

    def __init__(
        self,
        name: str,
        deadline: float,
        *,
        redis_key: str = "",
        token: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._deadline = deadline
        self._lost = False
        self._closed = False
        self._clock = clock
        # The lease as Redis knows it (empty for outbox claims, fenced by their own
        # delivery count): scripts writing on the work's behalf check it is still ours.
        self.redis_key = redis_key
        self.token = token

    @classmethod
    def starting(
        cls,
        name: str,
        lease: float,
        *,
        margin: float,
        redis_key: str = "",
        token: str = "",
        clock: Callable[[], float] = time.monotonic,
        asked_at: float | None = None,
    ) -> Fence:
        """A fence for a lease of `lease` seconds asked for at `asked_at` (default now)."""
        start = clock() if asked_at is None else asked_at
        return cls(name, start + lease - margin, redis_key=redis_key, token=token, clock=clock)

    def renewed(self, asked_at: float, lease: float, margin: float) -> None:
        """Redis confirmed a renewal asked for at `asked_at` (monotonic seconds)."""
        self._deadline = max(self._deadline, asked_at + lease - margin)

    def lose(self) -> None:
        self._lost = True

    def close(self) -> None:
        """The work is finished (marked done): late stragglers no longer check."""
        self._closed = True

    @property
    def valid(self) -> bool:
        return self._closed or (not self._lost and self._clock() < self._deadline)

    @property
    def lost(self) -> bool:
        """Known to be another's (not merely run out unconfirmed)."""
        return self._lost

    def check(self) -> None:
        if not self.valid:
            raise LeaseLost(self.name)


class FenceGroup(Fence):
    """Work done for several leases at once (one deleteMessages call for a batch of
    entries): valid only while every one of them is."""

    __slots__ = ("members",)

    def __init__(self, name: str, members: list[Fence]) -> None:
        super().__init__(name, 0.0)
        self.members = members

    def lose(self) -> None:
        for fence in self.members:
            fence.lose()

    @property
    def valid(self) -> bool:
        return all(fence.valid for fence in self.members)

    @property
    def lost(self) -> bool:
        return any(fence.lost for fence in self.members)


CURRENT_FENCE: ContextVar[Fence | None] = ContextVar("gmbot_fence", default=None)


def check_fence() -> None:
    """Raise LeaseLost when the work this code runs for is no longer ours."""
    fence = CURRENT_FENCE.get()
    if fence is not None:
        fence.check()


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    token = CURRENT_FENCE.set(fence)
    try:
        yield fence
    finally:
        CURRENT_FENCE.reset(token)
