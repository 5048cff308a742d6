"""Plumbing of the multi-instance suite: processes, nginx, certificates, metrics, sampling.

Nothing here knows about pytest fixtures; tests/scale/conftest.py wires it together.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bot_api_emulator import Bot, Chat, EmulatorClient, User
from gmbot.demo.process import bot_env, terminate
from tests.support import GROUP_PERMISSIONS, free_port

T = TypeVar("T")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PROTECTED = "🛡 Protection on: members must be subscribed to"
CALLBACK_PREFIX = "gmv"
_names = itertools.count(1)


async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109 - a deadline for other processes
    message: str,
    interval: float = 0.05,
    watch: Iterable[Proc] = (),
) -> T:
    """Poll `probe` until truthy; fail at once if a watched process died."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in watch:
            if not proc.running and not proc.killed:
                raise RuntimeError(f"{proc.name} exited ({proc.returncode}):\n{proc.tail()}")
        with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
            result = await probe()
            if result:
                return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} (after {timeout:.0f}s)")
        await asyncio.sleep(interval)


class Proc:
    """A child process whose output goes to a log file."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.killed = False  # SIGKILLed on purpose

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def lines(self) -> list[str]:
        try:
            return self.log.read_text("utf-8", "replace").splitlines()
        except OSError:
            return []

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        if self.proc is None:
            return None
        return await terminate(self.proc, sig, timeout)


def python_proc(name: str, args: list[str], env: Mapping[str, str], workdir: Path) -> Proc:
    return Proc(name, [sys.executable, *args], bot_env(env), workdir, workdir / f"{name}.log")


# ----- metrics ------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Samples:
    rows: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for metric, have, value in self.rows
            if metric == name and all(have.get(k) == v for k, v in labels.items())
        )


def handled(samples: Samples) -> float:
    """Updates an instance handled: bot_updates_total without the duplicates it only
    acknowledged (outcome="duplicate")."""
    return samples.total("bot_updates_total") - samples.total(
        "bot_updates_total", outcome="duplicate"
    )


def parse_metrics(text: str) -> Samples:
    samples = Samples()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            samples.rows.append((match.group(1), labels, float(match.group(3))))
    return samples


async def scrape(session: aiohttp.ClientSession, base_url: str) -> Samples:
    async with session.get(base_url + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r:
        r.raise_for_status()
        return parse_metrics(await r.text())


# ----- the session report (printed by pytest_terminal_summary in conftest.py) -----------

REPORT: dict[str, list[str]] = {}


def report(section: str, line: str) -> None:
    REPORT.setdefault(section, []).append(line)


@dataclass
class EmulatorProcess:
    proc: Proc
    base_url: str
    client: EmulatorClient


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

    async def restart(self, inst: Instance, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Start a (killed) instance again on its port; return once it is ready."""
        await inst.proc.stop()
        inst.carried = Samples(inst.carried.rows + inst.last_metrics.rows)
        inst.last_metrics = Samples()
        inst.restarts += 1
        inst.proc.killed = False
        await inst.proc.start()

        async def ready() -> bool:
            async with self.session.get(inst.base_url + "/ready") as response:
                return response.status == 200

        await wait_until(
            ready, timeout=timeout, message=f"{inst.instance_id} did not restart", watch=[inst.proc]
        )

    def processes(self) -> list[Proc]:
        return [self.nginx, *(i.proc for i in self.instances)]


# ----- TLS and nginx ------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what the emulator trusts (SSL_CERT_FILE)
    cert: Path  # nginx's certificate for 127.0.0.1, signed by the CA
    key: Path


def make_certificates(directory: Path) -> Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=GMBot scale test CA", "-keyout", str(ca_key), "-out", str(ca),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return Certificates(ca, cert, key)


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def nginx_config(prefix: Path, port: int, upstreams: list[int], certs: Certificates) -> str:
    servers = "\n".join(
        # max_fails=0: a 503 "held by another instance" must not take an instance out;
        # a dead one refuses connections at once and the request moves on (next_upstream).
        f"        server 127.0.0.1:{p} max_fails=0;"
        for p in upstreams
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format scale '$msec $status $request_time "$upstream_addr" "$upstream_status"';
    access_log {prefix}/access.log scale;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream gmbot {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs.cert};
        ssl_certificate_key {certs.key};
        location / {{
            proxy_pass http://gmbot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # The bot deduplicates by update_id, so a retried POST is safe.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def nginx_access_log(prefix: Path) -> list[tuple[int, list[str], list[str]]]:
    """(status, upstream addresses tried, their statuses) per request nginx answered."""
    rows = []
    path = prefix / "access.log"
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        match = re.match(r'\S+ (\d+) \S+ "([^"]*)" "([^"]*)"', line)
        if match:
            addrs = [a.strip() for a in match.group(2).split(",")]
            statuses = [s.strip() for s in match.group(3).split(",")]
            rows.append((int(match.group(1)), addrs, statuses))
    return rows


# ----- PostgreSQL connections ---------------------------------------------------------------


class ConnectionSampler:
    """Counts this run's instances' connections in pg_stat_activity, continuously."""

    def __init__(self, admin_dsn: str, application_names: list[str], interval: float = 0.05):
        self.dsn = admin_dsn
        self.names = application_names
        self.interval = interval
        self.peak = 0
        self.window_peak = 0
        self.peak_by_name: dict[str, int] = defaultdict(int)
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self.dsn)
        self._task = asyncio.create_task(self._run(), name="pg-sampler")

    def reset_window(self) -> None:
        self.window_peak = 0

    async def sample(self) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT application_name, count(*) AS n FROM pg_stat_activity "
            "WHERE application_name = ANY($1::text[]) GROUP BY application_name",
            self.names,
        )
        return {r["application_name"]: int(r["n"]) for r in rows}

    async def _run(self) -> None:
        while True:
            counts = await self.sample()
            total = sum(counts.values())
            self.samples += 1
            self.peak = max(self.peak, total)
            self.window_peak = max(self.window_peak, total)
            for name, n in counts.items():
                self.peak_by_name[name] = max(self.peak_by_name[name], n)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            if self._task.done() and not self._task.cancelled() and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
        await self._conn.close()


# ----- the world ----------------------------------------------------------------------------


@dataclass
class World:
    bot: Bot
    admin: User
    group: Chat
    channel: Chat
    members: list[User]  # in the group and subscribed to the channel
    strangers: list[User]  # in the group, not subscribed


async def make_world(
    emu: EmulatorClient, bot: Bot, *, members: int = 1, strangers: int = 1
) -> World:
    """A supergroup and a channel, both administered by the bot. The subscribed members join
    the channel before the bot becomes its admin, so the bot has heard nothing about them."""
    n = f"{next(_names)}_{uuid.uuid4().hex[:6]}"
    admin = await emu.create_user("Ada", f"ada_{n}")
    group = await emu.create_chat(
        "supergroup", f"Group {n}", creator_id=admin.id, permissions=GROUP_PERMISSIONS
    )
    channel = await emu.create_chat(
        "channel", f"News {n}", username=f"news_{n}", creator_id=admin.id
    )
    subscribed = [await emu.create_user(f"Max{i}", f"max{i}_{n}") for i in range(members)]
    outsiders = [await emu.create_user(f"Sam{i}", f"sam{i}_{n}") for i in range(strangers)]
    for user in subscribed:
        await emu.set_member(channel.id, user.id, "member")
    await emu.set_member(channel.id, bot.id, "administrator")
    for user in [*subscribed, *outsiders]:
        await emu.set_member(group.id, user.id, "member")
    await emu.set_member(
        group.id, bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
    )
    return World(bot, admin, group, channel, subscribed, outsiders)


async def gather_limited(limit: int, coros: Iterable[Awaitable[T]]) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def by_update(updates: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {u["update_id"]: u for u in updates}


def message_update_of(
    updates: list[dict[str, Any]], chat_id: int, message_id: int
) -> dict[str, Any]:
    for u in updates:
        message = u["update"].get("message")
        if message and message["chat"]["id"] == chat_id and message["message_id"] == message_id:
            return u
    raise AssertionError(f"no update for message {message_id} in chat {chat_id}")


# ----- a counting pass-through in front of the Bot API (polling mode) -----------------------


class CountingProxy:
    """Forwards an instance's Bot API requests to the emulator, counting them by method.

    The emulator's journal cannot tell instances apart (they share the token); one proxy per
    instance can: it shows which instance calls getUpdates, and when.
    """

    def __init__(self, name: str, upstream: str) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.counts: Counter[str] = Counter()
        # getUpdates requests as [started, ended or None] (monotonic clock).
        self.polls: list[list[float | None]] = []
        self._runner: Any = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def polled_between(self, start: float, end: float) -> int:
        """getUpdates requests open at some moment in [start, end] (long polls included)."""
        return sum(
            1 for began, ended in self.polls if began <= end and (ended is None or ended >= start)
        )

    async def start(self) -> None:
        from aiohttp import web

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

        async def forward(request: web.Request) -> web.StreamResponse:
            assert self._session is not None
            method = request.path.rsplit("/", 1)[-1]
            self.counts[method] += 1
            span: list[float | None] = [time.monotonic(), None]
            if method == "getUpdates":
                self.polls.append(span)
            headers = {
                k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")
            }
            try:
                async with self._session.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=await request.read(),
                    headers=headers,
                ) as response:
                    body = await response.read()
                    return web.Response(
                        status=response.status,
                        body=body,
                        content_type=response.content_type,
                    )
            except aiohttp.ClientError as exc:
                return web.Response(status=502, text=f"proxy: {exc!r}")
            finally:
                span[1] = time.monotonic()

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
