"""The polling cluster: three instances in long-polling mode (ENVIRONMENT=development, but on
the shared PostgreSQL and Redis), each reaching the emulator through its own counting proxy,
so the suite can tell which of them polls."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot_api_emulator import Bot, EmulatorClient
from tests.scale.counting_proxy import CountingProxy
from tests.scale.processes import EmulatorProcess, Proc, python_proc, wait_until
from tests.scale.settings import INSTANCES, START_TIMEOUT, instance_env
from tests.support import free_port


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


@contextlib.asynccontextmanager
async def running_polling_cluster(
    *,
    emulator: EmulatorProcess,
    database_url: str,
    redis_url: str,
    namespace: str,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[PollingCluster]:
    emu = emulator.client
    # Unique per cluster: each test that asks for one gets its own bot.
    bot = await emu.create_bot(f"gm_poll_{run_id}_{uuid.uuid4().hex[:4]}_bot", first_name="GMBot")
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
