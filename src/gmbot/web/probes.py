"""GET /health (liveness), /ready (database and Redis) and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gmbot.metrics import Metrics

Check = Callable[[], Awaitable[None]]
Info = Callable[[], Mapping[str, Any]]


class Probes:
    def __init__(
        self,
        instance_id: str,
        metrics: Metrics,
        checks: Mapping[str, Check],
        info: Mapping[str, Info] | None = None,
        *,
        timeout: float = 2.0,
    ) -> None:
        self._instance = instance_id
        self._metrics = metrics
        self._checks = checks
        self._info = info or {}
        self._timeout = timeout
        self.draining = False  # set on shutdown: stop receiving new traffic

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "instance": self._instance})

    async def ready(self, request: web.Request) -> web.Response:
        results: dict[str, Any] = {}
        failing = []
        for name, check in self._checks.items():
            try:
                async with asyncio.timeout(self._timeout):
                    await check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", named in the body
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
                failing.append(name)
        for name, info in self._info.items():
            results[name] = dict(info())  # reported, never failing readiness
        if self.draining:
            failing.append("shutting down")
        body = {
            "status": "ready" if not failing else "unavailable",
            "instance": self._instance,
            "failing": failing,
            "checks": results,
        }
        return web.json_response(body, status=200 if not failing else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def install(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/metrics", self.metrics)
