"""HTTP plumbing of the control-API client, and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp

T = TypeVar("T")

PREFIX = "/_emulator"


class EmulatorError(Exception):
    """The control API refused a request (status and the emulator's explanation)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


async def wait_for(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
    interval: float = 0.02,
    message: str = "condition not met",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} (after {timeout:.1f}s)")
        await asyncio.sleep(interval)


class ClientBase:
    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        http_method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the emulator
    ) -> Any:
        session = self._ensure_session()
        async with session.request(
            http_method,
            self.base_url + PREFIX + path,
            json=payload,
            params=params,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                error = data.get("error") if isinstance(data, dict) else data
                raise EmulatorError(response.status, str(error))
            return data

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._call("GET", path, params=params)
