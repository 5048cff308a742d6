"""One recording pass-through per instance in front of the Bot API emulator.

The instances share the bot's token, so the emulator's journal cannot say which of them
made a call; each instance's own proxy can. Every call is kept as a `RequestRecord` (the
emulator journal's record type, its `at` the moment the call arrived) plus when its answer
came back, so the journal's helpers (deletes, mutes, prompts) read these records too.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from bot_api_emulator import RequestRecord
from bot_api_emulator.params import parse_multipart
from bot_api_emulator.spec import decode_value
from tests.support import free_port


@dataclass(frozen=True, slots=True)
class Call:
    record: RequestRecord  # method, decoded params, status, answer; `at` = sent (epoch)
    answered_at: float  # epoch seconds the answer (or the failure) came back
    pid: int | None  # the instance's process at the time (a restart changes it)

    @property
    def method(self) -> str:
        return self.record.method

    @property
    def ok(self) -> bool:
        return self.record.ok


def decode_body(body: bytes, content_type: str) -> dict[str, Any]:
    """A Bot API request's parameters, whatever aiogram encoded them as."""
    fields: dict[str, Any]
    if content_type.startswith("multipart/form-data"):
        fields = dict(parse_multipart(body, content_type))
    elif content_type.startswith("application/json"):
        try:
            loaded = json.loads(body or b"{}")
        except ValueError:
            loaded = {}
        fields = loaded if isinstance(loaded, dict) else {}
    else:
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {k: decode_value(None, v) for k, v in fields.items()}


class RecordingProxy:
    def __init__(self, name: str, upstream: str) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.calls: list[Call] = []
        self.pid: int | None = None  # set by the cluster whenever its instance (re)starts
        # Calls on their way (a hung one included): its record is written once answered.
        self.in_flight = 0
        self.on_the_way: Counter[str] = Counter()  # the same, by Bot API method
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def since(self, at: float) -> list[Call]:
        return [c for c in self.calls if c.record.at >= at]

    async def start(self) -> None:
        # No timeout of its own: a hung emulator call hangs for the instance as well, which
        # gives up on its own clock (its gateway's call timeout).
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        sent = time.time()
        pid = self.pid
        body = await request.read()
        content_type = request.headers.get("Content-Type", "")
        method = request.path.rsplit("/", 1)[-1]
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",)}
        status, answer, content = 502, b"", "application/json"
        self.in_flight += 1
        self.on_the_way[method] += 1
        try:
            async with self._session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as response:
                status, answer = response.status, await response.read()
                content = response.content_type
        except aiohttp.ClientError as exc:
            answer = json.dumps({"ok": False, "description": f"proxy: {exc!r}"}).encode()
        finally:
            self.in_flight -= 1
            self.on_the_way[method] -= 1
            self._record(method, body, content_type, status, answer, sent, pid)
        return web.Response(status=status, body=answer, content_type=content)

    def _record(
        self,
        method: str,
        body: bytes,
        content_type: str,
        status: int,
        answer: bytes,
        sent: float,
        pid: int | None,
    ) -> None:
        try:
            decoded = json.loads(answer)
        except ValueError:
            decoded = {"ok": False, "description": answer[:200].decode("utf-8", "replace")}
        self._seq += 1
        record = RequestRecord(
            self._seq,
            0,
            method,
            decode_body(body, content_type),
            status,
            decoded if isinstance(decoded, dict) else {"ok": False},
            self.name,
            sent,
        )
        self.calls.append(Call(record, time.time(), pid))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
