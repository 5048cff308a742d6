"""A counting pass-through in front of the Bot API, one per polling instance."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import aiohttp

from tests.support import free_port


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
