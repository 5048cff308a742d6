"""The dependency monitor: which failures mean Redis or the database is down, and the
degraded state (refuse at once, re-ask readiness at most every interval, recover)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from structlog.testing import capture_logs

from gmbot.delivery.dependencies import (
    DATABASE,
    REDIS,
    DependencyMonitor,
    unavailable_dependency,
)
from gmbot.domain.ports import CacheUnavailable, StoreUnavailable
from gmbot.metrics import Metrics

RECHECK = 2.0


def raised_during(error: BaseException, during: BaseException) -> BaseException:
    error.__context__ = during
    return error


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (CacheUnavailable("down"), REDIS),
        (RedisConnectionError("refused"), REDIS),
        (RedisTimeoutError("timed out"), REDIS),
        (ReadOnlyError("READONLY You can't write against a read only replica."), REDIS),
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'."), REDIS),
        (ResponseError("MISCONF Errors writing to the AOF file"), REDIS),
        (StoreUnavailable("refused"), DATABASE),
        # The release of a failed update's claim failing too, say: found down the chain.
        (raised_during(RuntimeError("release failed"), StoreUnavailable("gone")), DATABASE),
        (ExceptionGroup("workers", [ValueError("x"), CacheUnavailable("down")]), REDIS),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind"), None),
        (TimeoutError(), None),  # the request budget, not a dependency
        (ConnectionError("a socket of something else"), None),
        (RuntimeError("a bug"), None),
    ],
    ids=repr,
)
def test_which_failures_are_a_dependency_down(error: BaseException, dependency: str | None) -> None:
    assert unavailable_dependency(error) == dependency


def test_a_cyclic_chain_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert unavailable_dependency(first) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """The readiness checks: `failing` is what they report; `gate` holds them open."""

    def __init__(self) -> None:
        self.failing: list[str] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> Sequence[str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return list(self.failing)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"instance_id": "m", **labels})
    return value or 0.0


Setup = tuple[DependencyMonitor, Probe, Clock, Metrics]


@pytest.fixture
def setup() -> Setup:
    probe, clock, metrics = Probe(), Clock(), Metrics("m")
    return DependencyMonitor(probe, metrics, recheck=RECHECK, clock=clock), probe, clock, metrics


async def test_healthy_admits_without_asking(setup: Setup) -> None:
    monitor, probe, _clock, metrics = setup
    assert await monitor.admit()
    assert not monitor.degraded
    assert probe.calls == 0
    assert sample(metrics, "bot_dependency_degraded") == 0


async def test_degraded_refuses_until_readiness_passes_asked_once_per_interval(
    setup: Setup,
) -> None:
    monitor, probe, clock, metrics = setup
    with capture_logs() as logs:
        monitor.failed(REDIS, "Connection refused")
    assert logs == [
        {
            "event": "dependency_unavailable",
            "log_level": "warning",
            "dependencies": ["redis"],
            "error": "Connection refused",
        }
    ]
    assert monitor.down == ("redis",)
    assert sample(metrics, "bot_dependency_degraded") == 1
    assert sample(metrics, "bot_dependency_refusals_total", dependency="redis") == 1
    assert monitor.retry_after == 2

    # Within the interval: refused, readiness not asked.
    clock.now += RECHECK - 0.1
    assert not await monitor.admit()
    assert probe.calls == 0

    # Past it: asked once; still failing, so refused, and not asked again until the next.
    probe.failing = ["redis"]
    clock.now += 0.2
    with capture_logs() as logs:
        assert not await monitor.admit()
        assert not await monitor.admit()
    assert probe.calls == 1
    assert logs == []  # the same outage: logged once

    # Passing at the next interval: this caller goes ahead, and so does everyone after.
    probe.failing = []
    clock.now += RECHECK
    with capture_logs() as logs:
        assert await monitor.admit()
    assert await monitor.admit()
    assert probe.calls == 2
    assert not monitor.degraded
    assert sample(metrics, "bot_dependency_degraded") == 0
    assert logs == [
        {
            "event": "dependency_recovered",
            "log_level": "info",
            "dependencies": ["redis"],
            "after": pytest.approx(2 * RECHECK + 0.1),
        }
    ]


async def test_others_are_refused_at_once_while_one_asks(setup: Setup) -> None:
    monitor, probe, clock, _metrics = setup
    monitor.failed(DATABASE, "refused")
    clock.now += RECHECK
    probe.gate = asyncio.Event()
    asking = asyncio.create_task(monitor.admit())
    await asyncio.sleep(0)  # it is waiting on the checks now
    assert probe.calls == 1
    for _ in range(3):
        assert not await monitor.admit()  # never made to wait on the checks
    probe.gate.set()
    assert await asking
    assert probe.calls == 1


async def test_a_probe_that_fails_to_run_keeps_the_instance_degraded(setup: Setup) -> None:
    monitor, probe, clock, _metrics = setup
    monitor.failed(DATABASE, "refused")
    clock.now += RECHECK
    probe.error = RuntimeError("probe broke")
    assert not await monitor.admit()
    assert monitor.down == ("database",)
    probe.error = None
    clock.now += RECHECK
    assert await monitor.admit()


def test_readiness_degrades_and_recovers(setup: Setup) -> None:
    monitor, _probe, _clock, metrics = setup
    monitor.checked(["database", "redis"])
    assert monitor.down == ("database", "redis")
    monitor.refused()
    assert sample(metrics, "bot_dependency_refusals_total", dependency="database+redis") == 1
    monitor.checked(["redis"])
    assert monitor.down == ("redis",)
    monitor.checked([])
    assert not monitor.degraded
