"""Redis or the database down: refuse updates at once until readiness passes again.

An update whose handling met an unreachable dependency is answered 503 + Retry-After:
nothing was acknowledged, so Telegram delivers it again later and nothing is lost. The
instance is then degraded: every update is refused at once, without work, so an outage
piles up neither requests waiting on timeouts nor half-done work. The readiness checks
(those /ready runs) are asked again at most every DEPENDENCY_RECHECK seconds, by the
first update after the interval (the others are refused meanwhile, never made to wait
on it), or by /ready itself; once they pass, updates are handled again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gmbot.domain.ports import CacheUnavailable, StoreUnavailable
from gmbot.metrics import Metrics

log = structlog.get_logger(__name__)

# The names of /ready's checks, and of the dependency in logs and metrics.
REDIS = "redis"
DATABASE = "database"

# The names of the readiness checks that fail now (empty when all pass).
Probe = Callable[[], Awaitable[Sequence[str]]]

# Redis answers these when it cannot take writes: memory full under noeviction, or
# its persistence (AOF, RDB) failing; a replica promoted from under us is read-only.
_REDIS_REFUSALS = ("OOM ", "MISCONF ")
_MAX_CHAIN = 16


def unavailable_dependency(exc: BaseException) -> str | None:
    """REDIS or DATABASE when `exc`, or anything it was raised from or during, says that
    dependency could not be reached; None for any other failure."""
    for error in _chain(exc):
        if isinstance(error, StoreUnavailable):
            return DATABASE
        if isinstance(
            error, CacheUnavailable | RedisConnectionError | RedisTimeoutError | ReadOnlyError
        ):
            return REDIS
        if isinstance(error, ResponseError) and str(error).startswith(_REDIS_REFUSALS):
            return REDIS
    return None


def report_unavailable(
    exc: BaseException, update_id: int, monitor: DependencyMonitor | None
) -> str | None:
    """The dependency `exc` says is unreachable, logged and told to `monitor`; None
    (nothing logged) for any other failure."""
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        log.warning(
            "update_dependency_unavailable",
            update_id=update_id,
            dependency=dependency,
            error=str(exc)[:200],
        )
        if monitor is not None:
            monitor.failed(dependency, str(exc))
    return dependency


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        pending.extend(e for e in (error.__context__, error.__cause__) if e is not None)


class DependencyMonitor:
    def __init__(
        self,
        probe: Probe,
        metrics: Metrics,
        *,
        recheck: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._metrics = metrics
        self._recheck = recheck
        self._clock = clock
        self._down: tuple[str, ...] = ()  # empty while healthy
        self._since = 0.0
        self._next_check = 0.0
        self._checking = False
        self._gauge = metrics.dependency_degraded.labels(metrics.instance_id)
        self._gauge.set(0)

    @property
    def degraded(self) -> bool:
        return bool(self._down)

    @property
    def down(self) -> tuple[str, ...]:
        """The dependencies found unreachable, while degraded."""
        return self._down

    @property
    def recheck(self) -> float:
        """Seconds between two askings of the readiness checks, while degraded."""
        return self._recheck

    @property
    def retry_after(self) -> int:
        """Seconds to tell Telegram to wait: readiness is asked again by then."""
        return max(1, math.ceil(self._recheck))

    def failed(self, dependency: str, error: str) -> None:
        """An update met `dependency` unreachable (and is answered 503)."""
        self._metrics.dependency_refused(dependency)
        if dependency not in self._down:
            self._degrade((*self._down, dependency), error)

    def refused(self) -> None:
        """An update was answered 503 at once, the instance being degraded."""
        self._metrics.dependency_refused("+".join(self._down) or "none")

    def checked(self, failing: Sequence[str]) -> None:
        """The readiness checks ran: recover when none failed, else stay degraded."""
        if failing:
            self._degrade(tuple(failing), "readiness check failed")
        elif self._down:
            log.info(
                "dependency_recovered",
                dependencies=list(self._down),
                after=round(self._clock() - self._since, 3),
            )
            self._down = ()
            self._gauge.set(0)

    async def admit(self) -> bool:
        """Whether an update may be handled now.

        Healthy: yes. Degraded: the first caller once the interval has passed asks the
        readiness checks again and goes ahead if they pass; any other is refused.
        """
        if not self._down:
            return True
        if self._checking or self._clock() < self._next_check:
            return False
        self._checking = True
        try:
            failing: Sequence[str] = await self._probe()
        except Exception as exc:  # a probe that fails to run tells nothing has recovered
            log.warning("dependency_recheck_failed", error=str(exc)[:300])
            failing = self._down
        finally:
            self._checking = False
            self._next_check = self._clock() + self._recheck
        self.checked(failing)
        return not self._down

    def _degrade(self, down: tuple[str, ...], error: str) -> None:
        down = tuple(sorted(set(down)))
        if not self._down:
            self._since = self._clock()
            self._next_check = self._since + self._recheck
            self._gauge.set(1)
        if down != self._down:  # logged as it changes, not at every recheck
            log.warning("dependency_unavailable", dependencies=list(down), error=error[:300])
            self._down = down
