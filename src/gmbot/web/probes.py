"""GET /health (liveness), /ready (database and Redis) and /metrics.

/ready fails while a check fails, while the instance is draining, and while the webhook
refuses updates for a dependency (the monitor's degraded state, which a passing /ready
ends: an instance taken out of the balancer gets no update to find out with).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gmbot.delivery.dependencies import DependencyMonitor
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
        self.monitor: DependencyMonitor | None = None  # set by the runtime (webhook mode)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "instance": self._instance})

    async def failing_checks(self) -> list[str]:
        """The names of the checks that fail now (the dependency monitor's probe)."""
        results = await self._run_checks()
        return [name for name, result in results.items() if result != "ok"]

    async def _run_checks(self) -> dict[str, str]:
        results = {}
        for name, check in self._checks.items():
            try:
                async with asyncio.timeout(self._timeout):
                    await check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", named in the body
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        return results

    async def ready(self, request: web.Request) -> web.Response:
        results: dict[str, Any] = dict(await self._run_checks())
        failing = [name for name, result in results.items() if result != "ok"]
        monitor = self.monitor
        if monitor is not None:
            monitor.checked(failing)
            down = monitor.down
            results["updates"] = f"refused: {', '.join(down)} unreachable" if down else "handled"
            if down and not failing:  # degraded by an update since the checks ran
                failing.append("updates")
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
