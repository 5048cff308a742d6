"""The multi-instance suite: three GMBot processes behind nginx (TLS), PostgreSQL, Redis and
the Bot API emulator (a process of its own) delivering webhooks to nginx's https URL.

Services (env, defaults):
    TEST_POSTGRES_URL   postgresql+asyncpg://postgres@127.0.0.1:5432/test  (admin database;
                        a database gmbot_scale_<random> is created per run and dropped after)
    TEST_REDIS_URL      redis://127.0.0.1:6379/15  (keys under a random namespace per run,
                        deleted after)
    GMBOT_REQUIRE_NGINX "1" makes a missing nginx a failure instead of a skip (CI)

TLS: the suite makes a throw-away CA and a certificate for 127.0.0.1 with openssl; the emulator
(a process of its own) trusts that CA through SSL_CERT_FILE, so no emulator setting is needed.
Process logs, nginx's prefix and the certificates live in a temp dir, kept when a test failed.

Lease, backoff and timeout lengths are shrunk through settings (see INSTANCE_SETTINGS and
EMULATOR_SETTINGS), so the whole suite takes a couple of minutes. At the end of the session
a short report of what was measured is printed (pytest_terminal_summary).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bot_api_emulator import Bot, EmulatorClient
from tests.fakes.api_spec import require_spec, spec_path
from tests.scale.helpers import (
    REPORT,
    Certificates,
    Cluster,
    ConnectionSampler,
    CountingProxy,
    EmulatorProcess,
    Instance,
    Proc,
    handled,
    make_certificates,
    nginx_access_log,
    nginx_binary,
    nginx_config,
    python_proc,
    report,
    wait_until,
)
from tests.support import free_port

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START_TIMEOUT = 60.0

# Per instance: at most POOL + OVERFLOW PostgreSQL connections.
DB_POOL_SIZE = 2
DB_MAX_OVERFLOW = 2
INSTANCES = 3

INSTANCE_SETTINGS = {
    "DB_POOL_SIZE": str(DB_POOL_SIZE),
    "DB_MAX_OVERFLOW": str(DB_MAX_OVERFLOW),
    "REDIS_MAX_CONNECTIONS": "20",
    # A dead holder's claim lapses after 5 s (renewed every third of it while alive).
    "UPDATE_LEASE": "5",
    "UPDATE_MAX_ATTEMPTS": "10",
    "DUPLICATE_RETRY_AFTER": "1",
    "LEADER_LEASE": "2",
    "REQUEST_BUDGET": "10",
    "AUTO_MIGRATE": "true",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "RECHECK_INTERVAL": "0",
}

# The emulator: an update not answered 2xx within 2 s is re-sent; retries come fast.
EMULATOR_SETTINGS = {
    "webhook_timeout": "2",
    "backoff_base": "0.1",
    "backoff_max": "1",
    "retry_after_scale": "0.3",
}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("GMBot scale report")
    for section, lines in REPORT.items():
        terminalreporter.write_line(f"[{section}]")
        for line in lines:
            terminalreporter.write_line(f"  {line}")


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


# ----- the webhook cluster ------------------------------------------------------------------


def instance_env(
    *,
    bot: Bot,
    api_url: str,
    database_url: str,
    redis_url: str,
    namespace: str,
    instance_id: str,
    **extra: str,
) -> dict[str, str]:
    return {
        **INSTANCE_SETTINGS,
        "BOT_TOKEN": bot.token,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "INSTANCE_ID": instance_id,
        **extra,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cluster(
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
    started = time.monotonic()
    emu = emulator.client
    bot = await emu.create_bot(f"gm_scale_{run_id}_bot", first_name="GMBot")
    namespace = f"{redis_namespace}wh:"
    secret = secrets.token_urlsafe(24)
    nginx_port = free_port()
    public_url = f"https://127.0.0.1:{nginx_port}"
    ports = [free_port() for _ in range(INSTANCES)]
    ids = [f"scale-{run_id}-{chr(ord('a') + i)}" for i in range(INSTANCES)]

    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, nginx_port, ports, certificates))
    nginx = Proc(
        "nginx",
        [nginx_path, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        prefix,
        prefix / "nginx.out",
    )
    instances = []
    for instance_id, port in zip(ids, ports, strict=True):
        env = instance_env(
            bot=bot,
            api_url=emulator.base_url,
            database_url=database_url,
            redis_url=redis_url,
            namespace=namespace,
            instance_id=instance_id,
            ENVIRONMENT="production",
            WEBHOOK_URL=public_url,
            WEBHOOK_PATH="/webhook",
            WEBHOOK_SECRET=secret,
            HOST="127.0.0.1",
            PORT=str(port),
        )
        instances.append(
            Instance(
                instance_id, port, python_proc(instance_id, ["-m", "gmbot", "run"], env, workdir)
            )
        )
    sampler = ConnectionSampler(admin_dsn, [i.application_name for i in instances])
    session = aiohttp.ClientSession()
    result = Cluster(
        emu,
        bot,
        instances,
        nginx,
        prefix,
        public_url,
        secret,
        namespace,
        sampler,
        session,
        DB_POOL_SIZE + DB_MAX_OVERFLOW,
    )
    try:
        await sampler.start()
        await nginx.start()
        # All three start together: they race for the migration lock and the webhook lock.
        await asyncio.gather(*(i.proc.start() for i in instances))

        async def ready() -> bool:
            for inst in instances:
                async with session.get(inst.base_url + "/ready") as response:
                    if response.status != 200:
                        return False
            stats = await emu.stats()
            return stats["bots"][str(bot.id)]["webhook"] == public_url + "/webhook"

        await wait_until(
            ready,
            timeout=START_TIMEOUT,
            message="the instances did not all become ready with the webhook set",
            watch=result.processes(),
        )
        report(
            "cluster",
            f"{INSTANCES} instances + nginx (least_conn, TLS) up in "
            f"{time.monotonic() - started:.1f}s; webhook {public_url}/webhook",
        )
        set_webhook = await emu.requests("setWebhook", bot_id=bot.id)
        assert len(set_webhook) == 1, f"the webhook was registered {len(set_webhook)} times"
        yield result
        await _final_report(result)
    finally:
        await _shutdown(result)


async def _final_report(c: Cluster) -> None:
    metrics = await c.metrics()
    done = {iid: handled(s) for iid, s in metrics.items()}
    total = sum(done.values()) or 1
    duplicates = sum(s.total("bot_duplicate_updates_total") for s in metrics.values())
    poison = sum(s.total("bot_poison_updates_total") for s in metrics.values())
    updates = await c.emu.updates(bot_id=c.bot.id)
    deliveries = await c.emu.webhook_deliveries(bot_id=c.bot.id)
    redeliveries = sum(1 for d in deliveries if d.attempt > 1)
    failed = sum(1 for d in deliveries if not d.ok)
    unanswered = {u["update_id"] for u in updates} - {d.update_id for d in deliveries if d.ok}
    nginx_rows = nginx_access_log(c.nginx_prefix)
    retried = sum(1 for _status, addrs, _st in nginx_rows if len(addrs) > 1)
    report(
        "webhook cluster",
        f"updates sent by the emulator: {len(updates)} (+{c.direct_posts} posted directly to "
        f"instances); delivery attempts: {len(deliveries)}, failed attempts: {failed}, "
        f"redeliveries: {redeliveries}; never answered 2xx: {len(unanswered)}",
    )
    report(
        "webhook cluster",
        f"handled (bot_updates_total, outcome != duplicate): {int(sum(done.values()))}; "
        "duplicates caught "
        f"(bot_duplicate_updates_total): {int(duplicates)}; poison: {int(poison)}",
    )
    share = ", ".join(
        f"{iid}{_fate(inst)}: {int(n)} ({100 * n / total:.0f}%)"
        for (iid, n), inst in zip(done.items(), c.instances, strict=True)
    )
    report("webhook cluster", f"per-instance share of handled updates: {share}")
    report(
        "webhook cluster",
        f"nginx: {len(nginx_rows)} requests, {retried} passed on to another instance "
        "(proxy_next_upstream)",
    )
    lost = sum(
        1 for inst in c.instances for line in inst.proc.lines() if "update_lease_lost" in line
    )
    report(
        "webhook cluster",
        f"update_lease_lost warnings in the instances' logs: {lost} "
        f"(UPDATE_LEASE={INSTANCE_SETTINGS['UPDATE_LEASE']}s)",
    )
    report(
        "webhook cluster",
        f"peak PostgreSQL connections (pg_stat_activity, application_name gmbot:<id>): "
        f"{c.sampler.peak} / limit {c.connection_limit} "
        f"({INSTANCES} x ({DB_POOL_SIZE} + {DB_MAX_OVERFLOW})); per instance "
        f"{dict(c.sampler.peak_by_name)}; {c.sampler.samples} samples",
    )


def _fate(inst: Instance) -> str:
    notes = []
    if inst.restarts:
        notes.append(f"killed and restarted {inst.restarts}x")
    if not inst.proc.running:
        notes.append("killed")
    return f" ({', '.join(notes)}; counted up to its last scrape)" if notes else ""


async def _shutdown(c: Cluster) -> None:
    try:
        await c.sampler.stop()
    except Exception as exc:  # the sampler failing must not hide the test's own result
        report("cluster", f"connection sampler stopped with {exc!r}")
    for inst in c.instances:
        code = await inst.proc.stop()
        if not inst.proc.killed and code not in (0, None):
            report("cluster", f"{inst.instance_id} exited with {code} on SIGTERM")
    await c.nginx.stop(signal.SIGQUIT)
    await c.session.close()


# ----- the polling cluster ------------------------------------------------------------------


@dataclass
class PollingInstance:
    instance_id: str
    proc: Proc
    proxy: CountingProxy


@dataclass
class PollingCluster:
    emu: EmulatorClient
    bot: Bot
    instances: list[PollingInstance]
    namespace: str
    redis_url: str

    def polls(self) -> dict[str, int]:
        return {i.instance_id: i.proxy.counts["getUpdates"] for i in self.instances}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def polling_cluster(
    emulator: EmulatorProcess,
    database_url: str,
    redis_url: str,
    redis_namespace: str,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[PollingCluster]:
    """Three instances in long-polling mode (ENVIRONMENT=development, but on the shared
    PostgreSQL and Redis), each reaching the emulator through its own counting proxy."""
    emu = emulator.client
    bot = await emu.create_bot(f"gm_poll_{run_id}_bot", first_name="GMBot")
    namespace = f"{redis_namespace}poll:"
    instances = []
    for n in range(INSTANCES):
        instance_id = f"poll-{run_id}-{chr(ord('a') + n)}"
        proxy = CountingProxy(instance_id, emulator.base_url)
        env = instance_env(
            bot=bot,
            api_url=proxy.base_url,
            database_url=database_url,
            redis_url=redis_url,
            namespace=namespace,
            instance_id=instance_id,
            ENVIRONMENT="development",
            HOST="127.0.0.1",
            PORT=str(free_port()),
        )
        proc = python_proc(instance_id, ["-m", "gmbot", "run"], env, workdir)
        instances.append(PollingInstance(instance_id, proc, proxy))
    result = PollingCluster(emu, bot, instances, namespace, redis_url)
    try:
        for inst in instances:
            await inst.proxy.start()
        await asyncio.gather(*(i.proc.start() for i in instances))

        async def started() -> bool:
            return (
                all(any("instance_started" in line for line in i.proc.lines()) for i in instances)
                and sum(result.polls().values()) > 0
            )

        await wait_until(
            started,
            timeout=START_TIMEOUT,
            message="the polling instances did not all start",
            interval=0.2,
            watch=[i.proc for i in instances],
        )
        yield result
    finally:
        for inst in instances:
            await inst.proc.stop()
        for inst in instances:
            await inst.proxy.stop()
