"""Counting the instances' Redis connections (CLIENT LIST, by client name) while the suite
runs. Each instance names its connections after its id (gmbot.cache.redis_client), so the
count is per instance, whatever else uses the same Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict

from redis.asyncio import Redis

from gmbot.cache.redis_client import client_name


class RedisConnectionSampler:
    def __init__(self, redis_url: str, instance_ids: list[str], interval: float = 0.1) -> None:
        self.url = redis_url
        self.names = {client_name(i): i for i in instance_ids}
        self.interval = interval
        self.peak_by_instance: dict[str, int] = defaultdict(int)
        self.window_peak_by_instance: dict[str, int] = defaultdict(int)
        self.window_samples = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None
        self._redis: Redis | None = None

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url, decode_responses=True)
        self._task = asyncio.create_task(self._run(), name="redis-sampler")

    def reset_window(self) -> None:
        self.window_peak_by_instance.clear()
        self.window_samples = 0

    async def sample(self) -> Counter[str]:
        assert self._redis is not None
        clients = await self._redis.client_list()
        return Counter(self.names[c["name"]] for c in clients if c.get("name") in self.names)

    async def _run(self) -> None:
        while True:
            counts = await self.sample()
            self.samples += 1
            self.window_samples += 1
            for instance_id, n in counts.items():
                self.peak_by_instance[instance_id] = max(self.peak_by_instance[instance_id], n)
                self.window_peak_by_instance[instance_id] = max(
                    self.window_peak_by_instance[instance_id], n
                )
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()
