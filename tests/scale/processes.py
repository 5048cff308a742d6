"""Child processes of the multi-instance suite (instances, nginx, the emulator) and waiting
on them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from bot_api_emulator import EmulatorClient
from gmbot.demo.process import bot_env, terminate

T = TypeVar("T")


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


@dataclass
class EmulatorProcess:
    proc: Proc
    base_url: str
    client: EmulatorClient
