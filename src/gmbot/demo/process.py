"""The real bot as a child process (`python -m gmbot run`), for the demo and end-to-end tests.

The child gets an explicit environment (never the parent's configuration) and runs in a
directory of the caller's choosing, so a developer's `.env` or exported BOT_TOKEN cannot leak
in. Its stdout and stderr are collected line by line; `stop()` sends SIGTERM, waits, then
kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import gmbot

T = TypeVar("T")

# Inherited from the parent: what a Python process needs to start, nothing GMBot reads.
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT", "TZ")


class BotExited(RuntimeError):
    """The bot process ended while it was expected to run."""


def source_root() -> Path:
    """The directory holding the `gmbot` package (src/ in a checkout)."""
    return Path(gmbot.__file__).resolve().parent.parent


def bot_env(values: Mapping[str, str]) -> dict[str, str]:
    """A clean environment for the bot: a few system variables, gmbot importable, `values`."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    paths = [str(source_root())]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


async def terminate(
    proc: asyncio.subprocess.Process,
    sig: int = signal.SIGTERM,
    timeout: float = 10.0,  # noqa: ASYNC109 - a grace period for another process
) -> int | None:
    """Send `sig`, wait up to `timeout` for the exit, then SIGKILL. The exit code."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return proc.returncode


class BotProcess:
    """`python -m gmbot run` with the given environment, in `cwd`."""

    def __init__(
        self,
        env: Mapping[str, str],
        cwd: Path,
        *,
        on_line: Callable[[str], None] | None = None,
        args: tuple[str, ...] = ("run",),
    ) -> None:
        self.env = bot_env(env)
        self.cwd = cwd
        self.args = args
        self.on_line = on_line
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def output(self, last: int | None = None) -> str:
        """What the bot printed (stdout and stderr), or its `last` lines."""
        lines = self.lines if last is None else self.lines[-last:]
        return "\n".join(lines)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gmbot",
            *self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read(), name="bot-output")

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if self.on_line is not None:
                self.on_line(line)

    def exited_error(self) -> BotExited:
        return BotExited(
            f"the bot exited with code {self.returncode}; its output:\n{self.output(last=40)}"
        )

    async def wait_until(
        self,
        probe: Callable[[], Awaitable[T | None]],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the child process
        interval: float = 0.05,
        message: str = "the bot did not become ready",
    ) -> T:
        """Poll `probe` until truthy; fail at once if the bot dies, or after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self.running:
                await self._drain()
                raise self.exited_error()
            with contextlib.suppress(OSError, TimeoutError):
                result = await probe()
                if result:
                    return result
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"{message} within {timeout:.0f}s; its output:\n{self.output(last=40)}"
                )
            await asyncio.sleep(interval)

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        code = await terminate(self.proc, timeout=timeout)
        await self._drain()
        return code

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 5)
