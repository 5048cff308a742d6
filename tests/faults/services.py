"""The fault suite's own Redis and PostgreSQL: started on free ports in temp dirs, so the
suite can stop them, restart them (Redis empty), and never touch the machine's services.

PostgreSQL's initdb and postgres refuse to run as root; as root they run as the
`postgres` account (runuser), in a directory it owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import tempfile
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from tests.scale.processes import Proc, wait_until
from tests.support import free_port

MACHINE_PORTS = (5432, 6379)  # the machine's own services: never ours
START_TIMEOUT = 30.0


def _port() -> int:
    while (port := free_port()) in MACHINE_PORTS:
        pass
    return port


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin, else wherever pg_ctl is on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


class OwnRedis:
    """redis-server without persistence; `restart_empty` brings it back on the same port
    with nothing in it (what a crashed Redis without persistence comes back as)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = _port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._binary = binary
        self._workdir = workdir
        self._dir = workdir / "redis"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._proc = self._make_proc()
        self.starts = 0

    def _make_proc(self) -> Proc:
        argv = [
            self._binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--maxclients", "2000",
        ]  # fmt: skip
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        return Proc("redis", argv, env, self._dir, self._workdir / "redis.log")

    @property
    def running(self) -> bool:
        return self._proc.running

    async def start(self) -> None:
        self._proc = self._make_proc()
        await self._proc.start()
        self.starts += 1
        await wait_until(
            self.ping,
            timeout=START_TIMEOUT,
            message="redis-server did not start",
            watch=[self._proc],
        )

    async def ping(self) -> bool:
        client: Redis = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """SIGTERM; with saving off nothing is written, so the next start is empty."""
        await self._proc.stop(signal.SIGTERM, timeout=10)

    async def restart_empty(self) -> None:
        await self.stop()
        await self.start()


class OwnPostgres:
    """A throw-away cluster (initdb) served by pg_ctl on a free port; stop keeps the data."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.port = _port()
        self._bin = bindir
        self._log_copy = workdir / "postgres.log"
        # Outside the (root-only) workdir: the postgres account must reach it.
        self._root = Path(tempfile.mkdtemp(prefix="gmbot-faults-pg-"))
        self._data = self._root / "data"
        self._sock = self._root / "sock"
        self._log = self._root / "postgres.log"
        self._sock.mkdir()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self._root, "postgres")
            shutil.chown(self._sock, "postgres")
        self.database = "gmbot"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"
        self.admin_dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _argv(self, tool: str, *args: str) -> list[str]:
        command = [str(self._bin / tool), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_root else command

    async def _run(self, tool: str, *args: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        proc = await asyncio.create_subprocess_exec(
            *self._argv(tool, *args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self._root,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{out.decode()}"
            )

    async def init(self) -> None:
        await self._run(
            "initdb", "-D", str(self._data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        await self.start()
        conn = await asyncpg.connect(self.admin_dsn, timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self._sock} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        await self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w",
                        "-t", str(int(START_TIMEOUT)), "-o", options, "start")  # fmt: skip

    async def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (clients see their connections dropped);
        `immediate` is a crash, recovered from at the next start."""
        await self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    async def accepting(self) -> bool:
        try:
            conn = await asyncpg.connect(self.admin_dsn, timeout=1)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    async def destroy(self) -> None:
        """Stop (if running), keep its log next to the others, remove the cluster."""
        if (self._data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # it was not running after all
                await self.stop("immediate")
        if self._log.exists():
            shutil.copyfile(self._log, self._log_copy)
        shutil.rmtree(self._root, ignore_errors=True)
