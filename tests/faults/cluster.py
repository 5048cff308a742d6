"""The fault cluster: GMBot instances in webhook mode behind nginx (the scale suite's TLS
configuration), on the suite's own PostgreSQL and Redis, each reaching the emulator through
its own recording proxy.

It offers what the scenarios do to instances (graceful restart, SIGSTOP / SIGCONT) and what
they read from them (/health, /ready, resident memory). It has the attributes the scale
suite's helpers read (`emu`, `bot`, `instances[].proc`, `outbox`), so `world.protect` and
`journal.settle` work on it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot_api_emulator import Bot, EmulatorClient
from gmbot.cache.keys import CacheKeys
from tests.faults.proxy import Call, RecordingProxy
from tests.faults.services import OwnPostgres, OwnRedis
from tests.faults.settings import FAULT_SETTINGS, INSTANCES
from tests.scale.certificates import Certificates
from tests.scale.nginx import nginx_proc
from tests.scale.outbox import OutboxProbe
from tests.scale.processes import EmulatorProcess, Proc, python_proc, wait_until
from tests.scale.settings import START_TIMEOUT, instance_env
from tests.support import free_port

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NAMESPACE = "gmbot-faults:"


class RedisTolerantOutbox(OutboxProbe):
    """The scale suite's outbox probe, answering "not drained" while Redis is away
    instead of raising (settle() polls it through a Redis outage); it also tells who holds
    an update's lease."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        super().__init__(redis_url, namespace)
        self._lease_keys = CacheKeys(namespace)
        self._leases: Redis = Redis.from_url(redis_url, decode_responses=True)

    async def backlog(self) -> int:
        try:
            return await super().backlog()
        except (RedisError, OSError):
            return -1

    async def lease_holder(self, update_id: int) -> str | None:
        """The instance id in the update's lease token ("<instance>:<hex>:<n>"), None
        when nobody holds it (not claimed yet, or done)."""
        token = await self._leases.get(self._lease_keys.update(update_id))
        if not token or token == "done":
            return None
        return str(token).rsplit(":", 2)[0]

    async def close(self) -> None:
        await self._leases.aclose()
        await super().close()


@dataclass
class FaultInstance:
    instance_id: str
    port: int
    proc: Proc
    proxy: RecordingProxy
    restarts: int = 0
    stopped: bool = False  # SIGSTOPped by the suite, not resumed yet
    pids: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def rss_kib(self) -> int | None:
        """Resident memory (VmRSS) of the current process, in KiB."""
        if self.pid is None or not self.proc.running:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def calls(self) -> list[Call]:
        return self.proxy.calls


@dataclass
class FaultCluster:
    emu: EmulatorClient
    bot: Bot
    instances: list[FaultInstance]
    nginx: Proc
    nginx_prefix: Path
    public_url: str
    secret: str
    outbox: RedisTolerantOutbox
    session: aiohttp.ClientSession
    redis: OwnRedis
    postgres: OwnPostgres
    tls: ssl.SSLContext  # trusts the suite's CA, for requests through nginx
    workdir: Path  # every process's log

    @property
    def alive(self) -> list[FaultInstance]:
        return [i for i in self.instances if i.proc.running]

    def processes(self) -> list[Proc]:
        return [self.nginx, *(i.proc for i in self.instances)]

    def calls(self) -> list[Call]:
        return sorted((c for i in self.instances for c in i.proxy.calls), key=lambda c: c.record.at)

    async def probe(self, inst: FaultInstance, path: str) -> int | None:
        """The status of GET `path` on the instance's own port (None: no answer in 3 s)."""
        try:
            async with self.session.get(
                inst.base_url + path, timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def is_ready(self, inst: FaultInstance) -> bool:
        return await self.probe(inst, "/ready") == 200

    async def wait_ready(self, inst: FaultInstance, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        await wait_until(
            lambda: self.is_ready(inst),
            timeout=timeout,
            message=f"{inst.instance_id} did not become ready",
            watch=[inst.proc],
            interval=0.1,
        )

    async def start(self, inst: FaultInstance) -> None:
        inst.proc.killed = False
        await inst.proc.start()
        inst.proxy.pid = inst.pid
        if inst.pid is not None:
            inst.pids.append(inst.pid)

    async def stop_gracefully(self, inst: FaultInstance, timeout: float = 30.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM and wait for the exit (the instance drains for up to REQUEST_BUDGET + 5 s;
        SIGKILL only past `timeout`)."""
        if inst.stopped:
            self.resume(inst)
        return await inst.proc.stop(signal.SIGTERM, timeout=timeout)

    async def restart(self, inst: FaultInstance) -> None:
        """Stop (gracefully) if running, start again on the same port, wait until ready."""
        await self.stop_gracefully(inst)
        inst.restarts += 1
        await self.start(inst)
        await self.wait_ready(inst)

    def suspend(self, inst: FaultInstance) -> None:
        assert inst.pid is not None
        os.kill(inst.pid, signal.SIGSTOP)
        inst.stopped = True

    def resume(self, inst: FaultInstance) -> None:
        if inst.pid is not None and inst.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(inst.pid, signal.SIGCONT)
        inst.stopped = False

    async def post_direct(self, inst: FaultInstance, body: bytes, **headers: str) -> int:
        async with self.session.post(
            inst.base_url + "/webhook",
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            await response.read()
            return response.status

    async def wait_for_write_hold(self, since: float, *, at_least: float) -> None:
        """Until a call made after `since` met a 429 and the fleet's rate limiter holds
        every write back for at least another `at_least` seconds (the work taken meanwhile
        waits, unsent)."""

        async def held_back() -> bool:
            refused = any(x.record.status == 429 for x in self.calls() if x.record.at >= since)
            return refused and await self.outbox.hold_left() >= at_least

        await wait_until(
            held_back,
            timeout=30,
            message="no 429 held the fleet's writes back",
            interval=0.02,
            watch=[i.proc for i in self.instances],
        )

    def instance(self, instance_id: str) -> FaultInstance:
        return next(i for i in self.instances if i.instance_id == instance_id)


@contextlib.asynccontextmanager
async def running_fault_cluster(
    *,
    nginx_path: str,
    emulator: EmulatorProcess,
    redis: OwnRedis,
    postgres: OwnPostgres,
    certificates: Certificates,
    workdir: Path,
    run_id: str,
    instances: int = INSTANCES,
) -> AsyncIterator[FaultCluster]:
    emu = emulator.client
    bot = await emu.create_bot(f"gm_faults_{run_id}_bot", first_name="GMBot")
    secret = secrets.token_urlsafe(24)
    nginx_port = free_port()
    public_url = f"https://127.0.0.1:{nginx_port}"
    ports = [free_port() for _ in range(instances)]
    ids = [f"faults-{run_id}-{chr(ord('a') + i)}" for i in range(instances)]

    nginx, prefix = nginx_proc(nginx_path, workdir, nginx_port, ports, certificates)
    members = []
    for instance_id, port in zip(ids, ports, strict=True):
        proxy = RecordingProxy(instance_id, emulator.base_url)
        env = instance_env(
            bot=bot,
            api_url=proxy.base_url,
            database_url=postgres.url,
            redis_url=redis.url,
            namespace=NAMESPACE,
            instance_id=instance_id,
            ENVIRONMENT="production",
            WEBHOOK_URL=public_url,
            WEBHOOK_PATH="/webhook",
            WEBHOOK_SECRET=secret,
            HOST="127.0.0.1",
            PORT=str(port),
        )
        env.update(FAULT_SETTINGS)
        proc = python_proc(instance_id, ["-m", "gmbot", "run"], env, workdir)
        members.append(FaultInstance(instance_id, port, proc, proxy))
    tls = ssl.create_default_context(cafile=str(certificates.ca))
    session = aiohttp.ClientSession()
    cluster = FaultCluster(
        emu,
        bot,
        members,
        nginx,
        prefix,
        public_url,
        secret,
        RedisTolerantOutbox(redis.url, NAMESPACE),
        session,
        redis,
        postgres,
        tls,
        workdir,
    )
    try:
        for inst in members:
            await inst.proxy.start()
        await nginx.start()
        await asyncio.gather(*(cluster.start(i) for i in members))

        async def ready() -> bool:
            for inst in members:
                if not await cluster.is_ready(inst):
                    return False
            stats = await emu.stats()
            return bool(stats["bots"][str(bot.id)]["webhook"] == public_url + "/webhook")

        await wait_until(
            ready,
            timeout=START_TIMEOUT,
            message="the instances did not all become ready with the webhook set",
            watch=cluster.processes(),
        )
        yield cluster
    finally:
        for inst in members:
            cluster.resume(inst)
            await inst.proc.stop()
        await nginx.stop(signal.SIGQUIT)
        for inst in members:
            await inst.proxy.stop()
        await cluster.outbox.close()
        await session.close()
