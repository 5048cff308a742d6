"""Fixtures of the fault suite: its own Redis and PostgreSQL, the emulator and nginx (the
scale suite's fixtures, reused), and one fault cluster for the session.

`cluster` hands the cluster to a scenario in the state every scenario may assume: Redis
and PostgreSQL up, every instance running (none SIGSTOPped) and ready, no emulator faults,
nothing pending. After a scenario that failed, every instance is restarted first, so what
one scenario broke does not fail the next (the report says so).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.faults.cluster import FaultCluster, running_fault_cluster
from tests.faults.report import REPORTS, note, write_report
from tests.faults.services import OwnPostgres, OwnRedis, postgres_bindir, redis_binary
from tests.faults.settings import INSTANCES
from tests.scale.conftest import certificates, emulator, nginx_path
from tests.scale.journal import settle
from tests.scale.processes import EmulatorProcess

__all__ = ["certificates", "emulator", "nginx_path"]  # the scale suite's, reused here

_failed_before = {"count": 0}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_report(terminalreporter)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    result = outcome.get_result()
    name = item.name.removeprefix("test_")
    for report in REPORTS:
        if report.name == name and (result.when == "call" or result.failed):
            report.outcome = "passed" if result.passed else result.outcome
            if result.failed and result.when != "call":
                report.outcome = f"error in {result.when}"


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def workdir(request: pytest.FixtureRequest, run_id: str) -> Iterator[Path]:
    """Every process's log (instances, emulator, nginx, Redis, PostgreSQL); kept when a
    scenario failed."""
    path = Path(tempfile.mkdtemp(prefix=f"gmbot-faults-{run_id}-"))
    yield path
    if request.session.testsfailed:
        note(f"logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def own_redis(workdir: Path) -> AsyncIterator[OwnRedis]:
    binary = redis_binary()
    if binary is None:
        pytest.fail(
            "redis-server is not installed (apt-get install -y redis-server)", pytrace=False
        )
    redis = OwnRedis(binary, workdir)
    try:
        await redis.start()
        yield redis
    finally:
        await redis.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def own_postgres(workdir: Path) -> AsyncIterator[OwnPostgres]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL's initdb / pg_ctl are not installed (apt-get install -y "
                    "postgresql)", pytrace=False)  # fmt: skip
    postgres = OwnPostgres(bindir, workdir)
    try:
        await postgres.init()
        yield postgres
    finally:
        await postgres.destroy()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def fault_cluster(
    nginx_path: str,
    emulator: EmulatorProcess,
    own_redis: OwnRedis,
    own_postgres: OwnPostgres,
    certificates: Any,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[FaultCluster]:
    started = time.monotonic()
    async with running_fault_cluster(
        nginx_path=nginx_path,
        emulator=emulator,
        redis=own_redis,
        postgres=own_postgres,
        certificates=certificates,
        workdir=workdir,
        run_id=run_id,
    ) as c:
        note(
            f"{INSTANCES} instances + nginx, own Redis :{own_redis.port} and PostgreSQL "
            f":{own_postgres.port}, up in {time.monotonic() - started:.1f}s"
        )
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def cluster(fault_cluster: FaultCluster, request: pytest.FixtureRequest) -> FaultCluster:
    c = fault_cluster
    await c.emu.clear_faults()
    await c.emu.set_rate_limits(False)
    await c.emu.resume_delivery()
    if not c.redis.running:
        await c.redis.start()
    if not await c.postgres.accepting():
        await c.postgres.start()
    failed = request.session.testsfailed > _failed_before["count"]
    _failed_before["count"] = request.session.testsfailed
    for inst in c.instances:
        c.resume(inst)
        if failed or not inst.proc.running or not await c.is_ready(inst):
            note(f"{inst.instance_id} restarted before {request.node.name}")
            await c.restart(inst)
    await settle(c, timeout=30)  # type: ignore[arg-type]
    return c
