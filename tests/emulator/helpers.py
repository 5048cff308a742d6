"""Shared helpers of the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot_api_emulator import BUNDLED_SPEC, Bot, Chat, Settings, User

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = Path(os.environ.get("GMBOT_API_SPEC") or BUNDLED_SPEC)


def fast_settings() -> Settings:
    # Millisecond backoff so redelivery scenarios finish quickly.
    return Settings(
        webhook_timeout=2.0, backoff_base=0.01, backoff_max=0.05, retry_after_scale=0.01
    )


@dataclass
class World:
    bot: Bot
    alice: User
    bob: User
    admin: User
    group: Chat
    channel: Chat


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def result(self) -> Any:
        assert self.body["ok"], self.body
        return self.body["result"]

    @property
    def description(self) -> str:
        return str(self.body.get("description"))


ApiCall = Callable[..., Any]


@dataclass
class Receiver:
    """A webhook endpoint whose answers tests script (status, delay, Retry-After)."""

    url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed first; then `status`
    status: int = 200
    delay: float = 0.0
    retry_after: str | None = None
    answer: bytes = b""
    answer_type: str = "application/json"
    event: asyncio.Event = field(default_factory=asyncio.Event)
    # Deliveries being answered right now per chat, and the most seen at once.
    in_flight: dict[int, int] = field(default_factory=dict)
    peak_in_flight: dict[int, int] = field(default_factory=dict)
    peak_total: int = 0

    def ids(self) -> list[int]:
        return [u["update_id"] for u in self.updates]

    async def handle(self, request: web.Request) -> web.Response:
        update = json.loads(await request.read())
        self.updates.append(update)
        self.headers.append(dict(request.headers))
        self.event.set()
        chat_id = _chat_of(update)
        self.in_flight[chat_id] = self.in_flight.get(chat_id, 0) + 1
        self.peak_in_flight[chat_id] = max(
            self.peak_in_flight.get(chat_id, 0), self.in_flight[chat_id]
        )
        self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight[chat_id] -= 1
        status = self.statuses.pop(0) if self.statuses else self.status
        headers = {"Retry-After": self.retry_after} if self.retry_after and status != 200 else {}
        return web.Response(
            status=status, body=self.answer, headers=headers, content_type=self.answer_type
        )

    async def wait_count(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.updates) < count:
                self.event.clear()
                await self.event.wait()


def _chat_of(update: dict[str, Any]) -> int:
    """The chat an update belongs to (0 when it has none)."""
    for value in update.values():
        if isinstance(value, dict):
            chat = value.get("chat") or (value.get("message") or {}).get("chat")
            if isinstance(chat, dict):
                return int(chat["id"])
    return 0
