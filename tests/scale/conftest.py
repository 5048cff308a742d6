"""Fixtures of the multi-instance suite: the services (PostgreSQL, Redis, nginx, the emulator)
once per session, the webhook cluster once per session, and a polling cluster per test.

The webhook cluster is expensive (three instances, nginx, TLS), so every webhook test shares
it; `cluster` hands it to a test only once it is in the state every test may assume: all
three instances up and ready, no faults staged, no flood limits, delivery running, nothing
pending (no update undelivered, no outbox entry not carried out). A test that kills an
instance restarts it, one that restarts them with other settings restores them; should it
fail before it can, the next test's `cluster` restarts it (and the report says so). Tests
therefore run alone or in any order.

GMBOT_REQUIRE_NGINX=1 makes a missing nginx a failure instead of a skip (CI).

TLS: the suite makes a throw-away CA and a certificate for 127.0.0.1 with openssl; the emulator
(a process of its own) trusts that CA through SSL_CERT_FILE, so no emulator setting is needed.
Process logs, nginx's prefix and the certificates live in a temp dir, kept when a test failed.
At the end of the session a short report of what was measured is printed
(pytest_terminal_summary).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bot_api_emulator import EmulatorClient
from tests.fakes.api_spec import require_spec, spec_path
from tests.scale.certificates import Certificates, make_certificates
from tests.scale.journal import settle
from tests.scale.nginx import nginx_binary
from tests.scale.polling_cluster import PollingCluster, running_polling_cluster
from tests.scale.processes import EmulatorProcess, python_proc, wait_until
from tests.scale.settings import EMULATOR_SETTINGS, POSTGRES_ADMIN_URL, REDIS_URL, START_TIMEOUT
from tests.scale.summary import report, write_report
from tests.scale.webhook_cluster import Cluster, running_webhook_cluster
from tests.support import free_port


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_report(terminalreporter)


# ----- services -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nginx_path() -> str:
    found = nginx_binary()
    if found is None:
        if os.environ.get("GMBOT_REQUIRE_NGINX") == "1":
            pytest.fail(
                "nginx is not installed but GMBOT_REQUIRE_NGINX=1: install it "
                "(apt-get install -y nginx-light) to run the scale suite",
                pytrace=False,
            )
        pytest.skip(
            "nginx is not installed (apt-get install -y nginx-light); the scale suite needs "
            "it. Set GMBOT_REQUIRE_NGINX=1 to make this a failure."
        )
    return found


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def workdir(request: pytest.FixtureRequest, run_id: str) -> Iterator[Path]:
    """Logs of every process, nginx's prefix, the certificates. Kept when a test failed
    (its path is in the report), removed otherwise. Not under pytest's basetemp, which
    other pytest sessions on the machine prune."""
    path = Path(tempfile.mkdtemp(prefix=f"gmbot-scale-{run_id}-"))
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed > failed_before:
        report("artifacts", f"logs kept in {path} (instances, emulator, nginx)")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def certificates(workdir: Path) -> Certificates:
    return make_certificates(workdir / "tls")


def _admin_dsn() -> str:
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return _admin_dsn()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(admin_dsn: str, run_id: str) -> AsyncIterator[str]:
    import asyncpg

    name = f"gmbot_scale_{run_id}"
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} ({exc!r}); the scale suite "
            "needs it (make test-scale). Start it or point TEST_POSTGRES_URL at one.",
            pytrace=False,
        )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield (
            make_url(POSTGRES_ADMIN_URL)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_url() -> AsyncIterator[str]:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2).close()
    except OSError as exc:
        pytest.fail(
            f"Redis is unreachable at {REDIS_URL} ({exc!r}); the scale suite needs it "
            "(make test-scale). Start it or point TEST_REDIS_URL at one.",
            pytrace=False,
        )
    yield REDIS_URL


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_namespace(redis_url: str, run_id: str) -> AsyncIterator[str]:
    """This run's key prefix; each cluster appends its own part. Every key is deleted after."""
    namespace = f"gmbot-scale-{run_id}:"
    yield namespace
    client: Redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def emulator(workdir: Path, certificates: Certificates) -> AsyncIterator[EmulatorProcess]:
    require_spec()
    port = free_port()
    args = ["-m", "bot_api_emulator", "--port", str(port), "--spec", str(spec_path())]
    for name, value in EMULATOR_SETTINGS.items():
        args += ["--set", f"{name}={value}"]
    # The emulator trusts the suite's CA (and only it) when it posts to nginx's https URL.
    proc = python_proc("emulator", args, {"SSL_CERT_FILE": str(certificates.ca)}, workdir)
    await proc.start()
    base_url = f"http://127.0.0.1:{port}"
    client = EmulatorClient(base_url)
    try:
        await wait_until(
            client.health, timeout=START_TIMEOUT, message="the emulator did not start", watch=[proc]
        )
        yield EmulatorProcess(proc, base_url, client)
        problems = await client.conformance_errors()
        assert problems == [], f"the bot made requests the Bot API would not accept: {problems}"
    finally:
        await client.close()
        await proc.stop()


# ----- the clusters -------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def webhook_cluster(
    nginx_path: str,
    emulator: EmulatorProcess,
    database_url: str,
    redis_url: str,
    redis_namespace: str,
    admin_dsn: str,
    certificates: Certificates,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[Cluster]:
    async with running_webhook_cluster(
        nginx_path=nginx_path,
        emulator=emulator,
        database_url=database_url,
        redis_url=redis_url,
        namespace=f"{redis_namespace}wh:",
        admin_dsn=admin_dsn,
        certificates=certificates,
        workdir=workdir,
        run_id=run_id,
    ) as cluster:
        yield cluster


@pytest_asyncio.fixture(loop_scope="session")
async def cluster(webhook_cluster: Cluster, request: pytest.FixtureRequest) -> Cluster:
    """The shared webhook cluster, brought to the state every test starts from."""
    c = webhook_cluster
    await _quiet_emulator(c.emu)
    for inst in c.instances:
        if not inst.proc.running:
            report("cluster", f"{inst.instance_id} was down before {request.node.name}: restarted")
            await c.restart(inst)

    async def all_ready() -> bool:
        return all([await c.is_ready(inst) for inst in c.instances])

    await wait_until(
        all_ready,
        timeout=START_TIMEOUT,
        message="not every instance is ready",
        watch=c.processes(),
    )
    await settle(c)
    return c


async def _quiet_emulator(emu: EmulatorClient) -> None:
    """No faults staged, no flood limits and delivery running (all are emulator-wide)."""
    await emu.clear_faults()
    await emu.set_rate_limits(False)
    await emu.resume_delivery()


@pytest_asyncio.fixture(loop_scope="session")
async def polling_cluster(
    emulator: EmulatorProcess,
    database_url: str,
    redis_url: str,
    redis_namespace: str,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[PollingCluster]:
    """A polling cluster of its own for each test: the test kills its leader."""
    await _quiet_emulator(emulator.client)
    async with running_polling_cluster(
        emulator=emulator,
        database_url=database_url,
        redis_url=redis_url,
        namespace=f"{redis_namespace}poll:{uuid.uuid4().hex[:6]}:",
        workdir=workdir,
        run_id=run_id,
    ) as cluster:
        yield cluster
