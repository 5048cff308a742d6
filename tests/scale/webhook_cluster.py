"""The webhook cluster: three GMBot instances behind nginx (TLS, least_conn), on one
PostgreSQL database and one Redis namespace, with the emulator posting updates to nginx.

`running_webhook_cluster` starts it, hands it over, prints what it handled over its life
into the session report, and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot_api_emulator import Bot, EmulatorClient
from tests.scale.certificates import Certificates
from tests.scale.metrics import Samples, handled, scrape
from tests.scale.nginx import nginx_access_log, nginx_proc
from tests.scale.outbox import OutboxProbe
from tests.scale.pg_connections import ConnectionSampler
from tests.scale.processes import EmulatorProcess, Proc, python_proc, wait_until
from tests.scale.redis_connections import RedisConnectionSampler
from tests.scale.settings import (
    DB_MAX_OVERFLOW,
    DB_POOL_SIZE,
    INSTANCE_SETTINGS,
    INSTANCES,
    REDIS_MAX_CONNECTIONS,
    START_TIMEOUT,
    instance_env,
)
from tests.scale.summary import report
from tests.support import free_port

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Instance:
    instance_id: str
    port: int
    proc: Proc
    last_metrics: Samples = field(default_factory=Samples)
    # Counters of earlier processes of this instance (killed, then restarted).
    carried: Samples = field(default_factory=Samples)
    restarts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def application_name(self) -> str:
        return f"gmbot:{self.instance_id}"[:63]


@dataclass
class Cluster:
    emu: EmulatorClient
    bot: Bot
    instances: list[Instance]
    nginx: Proc
    nginx_prefix: Path
    public_url: str
    secret: str
    namespace: str
    sampler: ConnectionSampler
    redis_sampler: RedisConnectionSampler
    outbox: OutboxProbe
    session: aiohttp.ClientSession
    connections_per_instance: int  # DB_POOL_SIZE + DB_MAX_OVERFLOW
    direct_posts: int = 0

    @property
    def connection_limit(self) -> int:
        return len(self.instances) * self.connections_per_instance

    @property
    def alive(self) -> list[Instance]:
        return [i for i in self.instances if i.proc.running]

    async def metrics(self) -> dict[str, Samples]:
        """Every instance's metrics: scraped now if alive, else the last scrape before death."""
        for inst in self.alive:
            inst.last_metrics = await scrape(self.session, inst.base_url)
        return {
            i.instance_id: Samples(i.carried.rows + i.last_metrics.rows) for i in self.instances
        }

    async def total(self, name: str, **labels: str) -> float:
        return sum(s.total(name, **labels) for s in (await self.metrics()).values())

    async def post_direct(self, inst: Instance, update: dict[str, Any]) -> tuple[int, Any]:
        """POST an update to one instance's own port, as Telegram would (secret header)."""
        self.direct_posts += 1
        async with self.session.post(
            inst.base_url + "/webhook",
            json=update,
            headers={SECRET_HEADER: self.secret},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            return response.status, await response.json(content_type=None)

    async def is_ready(self, inst: Instance) -> bool:
        async with self.session.get(inst.base_url + "/ready") as response:
            return response.status == 200

    async def restart(self, inst: Instance, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Start a (killed) instance again on its port; return once it is ready."""
        await inst.proc.stop()
        inst.carried = Samples(inst.carried.rows + inst.last_metrics.rows)
        inst.last_metrics = Samples()
        inst.restarts += 1
        inst.proc.killed = False
        await inst.proc.start()
        await wait_until(
            lambda: self.is_ready(inst),
            timeout=timeout,
            message=f"{inst.instance_id} did not restart",
            watch=[inst.proc],
        )

    @contextlib.asynccontextmanager
    async def restored_after(self, inst: Instance) -> AsyncIterator[Instance]:
        """For a test that kills `inst`: it is running again when the block is left."""
        try:
            yield inst
        finally:
            if not inst.proc.running:
                await self.restart(inst)

    @contextlib.asynccontextmanager
    async def reconfigured(
        self, each: Mapping[str, Mapping[str, str]] | None = None, **settings: str
    ) -> AsyncIterator[Cluster]:
        """For the block, every instance restarted with `settings`, and those named in
        `each` (by instance id) with their own on top; afterwards restarted with their
        usual settings again. The restarts run at once; an instance whose settings do not
        change is left alone."""
        changed: list[tuple[Instance, dict[str, str]]] = []
        for inst in self.instances:
            extra = {**settings, **(each or {}).get(inst.instance_id, {})}
            if extra:
                changed.append((inst, dict(inst.proc.env)))
                inst.proc.env.update(extra)
        try:
            await asyncio.gather(*(self.restart(i) for i, _env in changed))
            yield self
        finally:
            for inst, env in changed:
                inst.proc.env = env
            await asyncio.gather(*(self.restart(i) for i, _env in changed))

    def instance(self, instance_id: str) -> Instance:
        return next(i for i in self.instances if i.instance_id == instance_id)

    def processes(self) -> list[Proc]:
        return [self.nginx, *(i.proc for i in self.instances)]


@contextlib.asynccontextmanager
async def running_webhook_cluster(
    *,
    nginx_path: str,
    emulator: EmulatorProcess,
    database_url: str,
    redis_url: str,
    namespace: str,
    admin_dsn: str,
    certificates: Certificates,
    workdir: Path,
    run_id: str,
) -> AsyncIterator[Cluster]:
    started = time.monotonic()
    emu = emulator.client
    bot = await emu.create_bot(f"gm_scale_{run_id}_bot", first_name="GMBot")
    secret = secrets.token_urlsafe(24)
    nginx_port = free_port()
    public_url = f"https://127.0.0.1:{nginx_port}"
    ports = [free_port() for _ in range(INSTANCES)]
    ids = [f"scale-{run_id}-{chr(ord('a') + i)}" for i in range(INSTANCES)]

    nginx, prefix = nginx_proc(nginx_path, workdir, nginx_port, ports, certificates)
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
    redis_sampler = RedisConnectionSampler(redis_url, ids)
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
        redis_sampler,
        OutboxProbe(redis_url, namespace),
        session,
        DB_POOL_SIZE + DB_MAX_OVERFLOW,
    )
    try:
        await sampler.start()
        await redis_sampler.start()
        await nginx.start()
        # All three start together: they race for the migration lock and the webhook lock.
        await asyncio.gather(*(i.proc.start() for i in instances))

        async def ready() -> bool:
            for inst in instances:
                if not await result.is_ready(inst):
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
    report(
        "webhook cluster",
        f"peak Redis connections per instance (CLIENT LIST, by client name): "
        f"{dict(c.redis_sampler.peak_by_instance)} / limit {REDIS_MAX_CONNECTIONS} each; "
        f"{c.redis_sampler.samples} samples",
    )
    all_samples = list(metrics.values())
    carried = {
        iid: int(s.total("bot_outbox_actions_total", outcome="done")) for iid, s in metrics.items()
    }
    outcomes = {
        outcome: int(sum(s.total("bot_outbox_actions_total", outcome=outcome) for s in all_samples))
        for outcome in ("done", "refused", "retry", "given_up")
    }
    raids = int(sum(s.total("bot_raids_total", event="started") for s in all_samples))
    report(
        "webhook cluster",
        f"outbox actions carried out per instance: {carried}; by outcome {outcomes}; "
        f"raids started: {raids}",
    )


def _fate(inst: Instance) -> str:
    notes = []
    if inst.restarts:
        notes.append(f"restarted {inst.restarts}x")
    if not inst.proc.running:
        notes.append("killed")
    return f" ({', '.join(notes)}; counted up to its last scrape)" if notes else ""


async def _shutdown(c: Cluster) -> None:
    try:
        await c.sampler.stop()
    except Exception as exc:  # the sampler failing must not hide the test's own result
        report("cluster", f"connection sampler stopped with {exc!r}")
    await c.redis_sampler.stop()
    await c.outbox.close()
    for inst in c.instances:
        code = await inst.proc.stop()
        if not inst.proc.killed and code not in (0, None):
            report("cluster", f"{inst.instance_id} exited with {code} on SIGTERM")
    await c.nginx.stop(signal.SIGQUIT)
    await c.session.close()
