"""The webhook under an outage and under bad senders, over real sockets: an instance
degraded by a dependency refuses updates without work until readiness passes; a slow
body gets 408, an oversized chunked one 413 before it ends; a request head trickled in
is cut off by the connection timeout the runtime sets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from gmbot.runtime import web_runner
from tests.e2e.harness import ADMIN, GROUP, MEMBER, STRANGER, Harness
from tests.e2e.test_webhook import SECRET, SECRET_HEADER, post, serving, update

WAIT = 10.0  # bound on any one socket read below


def sample(h: Harness, name: str, **labels: str) -> float:
    value = h.runtime.services.metrics.registry.get_sample_value(
        name, {"instance_id": "test-1", **labels}
    )
    return value or 0.0


async def test_a_degraded_instance_refuses_updates_without_work_until_ready_passes(
    tmp_path: Path,
) -> None:
    # Readiness asked again only hourly by updates: only /ready ends the outage here.
    async with serving(tmp_path, dependency_recheck=3600) as (h, client):
        await post(client, update(h, ADMIN, "/protect @newschan", 1))
        spam, chat = update(h, STRANGER, "spam", 2), update(h, MEMBER, "hi", 3)
        h.redis_reachable(False)
        try:
            response = await client.post(
                "/webhook", data=json.dumps(spam), headers={SECRET_HEADER: SECRET}
            )
            assert (response.status, response.headers["Retry-After"]) == (503, "3600")
        finally:
            h.redis_reachable(True)
        assert sample(h, "bot_dependency_degraded") == 1

        # Redis is back, but the instance does not know yet: every update, fast path
        # included, is refused at once, nothing asked of Redis or the dispatcher.
        work: list[str] = []
        guard, fast = h.runtime.guard, h.runtime.fast_path
        assert fast is not None
        real_admit, real_fast = guard.admit, fast.handle

        async def admit(*args: Any, **kwargs: Any) -> Any:
            work.append("claim")
            return await real_admit(*args, **kwargs)

        async def fast_handle(*args: Any, **kwargs: Any) -> Any:
            work.append("fast path")
            return await real_fast(*args, **kwargs)

        guard.admit = admit  # type: ignore[method-assign]
        fast.handle = fast_handle  # type: ignore[method-assign]
        for body in (spam, chat, spam):
            assert (await post(client, body))[0] == 503
        assert work == []
        assert sample(h, "bot_dependency_refusals_total", dependency="redis") == 4

        ready = await client.get("/ready")  # the checks pass: updates are taken again
        assert ready.status == 200, await ready.json()
        assert sample(h, "bot_dependency_degraded") == 0
        assert (await post(client, spam))[0] == 200
        assert work == ["fast path"]  # handled as ever
        await h.drain()
        assert h.world.status(GROUP, STRANGER) == "restricted"
        assert (await post(client, spam))[1].get("duplicate") is True
        assert len(h.session.called("restrictChatMember")) == 1


async def read_status(reader: asyncio.StreamReader) -> int | None:
    """The status of the server's answer; None when it closed without one."""
    async with asyncio.timeout(WAIT):
        line = await reader.readline()
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def head(*lines: str) -> bytes:
    return ("\r\n".join(["POST /webhook HTTP/1.1", "Host: bot", *lines]) + "\r\n\r\n").encode()


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def test_a_body_sent_too_slowly_gets_408(tmp_path: Path) -> None:
    async with serving(tmp_path, body_timeout=0.2) as (h, client):
        assert client.server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        try:
            writer.write(head(f"{SECRET_HEADER}: {SECRET}", "Content-Length: 200") + b'{"upd')
            await writer.drain()  # and the other 195 bytes never come
            assert await read_status(reader) == 408
        finally:
            await closed(writer)
        assert h.session.calls == []


async def test_an_oversized_chunked_body_gets_413_before_it_ends(tmp_path: Path) -> None:
    async with serving(tmp_path) as (h, client):
        assert client.server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        try:
            writer.write(head(f"{SECRET_HEADER}: {SECRET}", "Transfer-Encoding: chunked"))
            chunk = b"x" * 65536
            for _ in range(20):  # 1.25 MiB, past the 1 MiB limit; the last chunk never sent
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            async with asyncio.timeout(WAIT):
                await writer.drain()
            assert await read_status(reader) == 413
        finally:
            await closed(writer)
        assert h.session.calls == []


async def test_chunked_bodies_are_judged_as_any_other(tmp_path: Path) -> None:
    async with serving(tmp_path) as (h, client):
        await _judged_as_any_other(h, client)


async def _judged_as_any_other(h: Harness, client: Any) -> None:
    async def chunked(body: bytes) -> tuple[int, dict[str, Any]]:
        async def parts() -> Any:
            for i in range(0, len(body), 7):
                yield body[i : i + 7]

        response = await client.post("/webhook", data=parts(), headers={SECRET_HEADER: SECRET})
        return response.status, await response.json()

    assert await chunked(json.dumps(update(h, ADMIN, "/protect @newschan", 1)).encode()) == (
        200,
        {"ok": True},
    )
    assert "Protection on" in h.last_bot_text(GROUP)
    # No payload, or no update at all: acknowledged as ignored, or 400; never a 5xx.
    assert await chunked(b'{"update_id": 7}') == (200, {"ok": True, "ignored": True})
    assert (await chunked(b""))[0] == 400
    assert (await chunked(b'{"update_id": 8, "message": "hello"}'))[0] == 400


async def test_a_request_head_trickled_in_is_cut_off(tmp_path: Path) -> None:
    async with serving(tmp_path) as (h, _client):
        app, _probes = h.runtime.web_app()
        runner = web_runner(app, h.runtime.settings, keepalive_timeout=0.3)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                trickle = head(f"{SECRET_HEADER}: {SECRET}", "X-Pad: " + "a" * 400)
                sent = 0
                async with asyncio.timeout(WAIT):
                    for byte in trickle:  # a byte every 20 ms: 9 s for the whole head
                        writer.write(bytes([byte]))
                        sent += 1
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.02):
                                if await reader.read(1) == b"":
                                    break  # the server closed the connection
                assert sent < len(trickle)  # cut off before the head was complete
            finally:
                await closed(writer)
        finally:
            await runner.cleanup()
        assert h.session.calls == []
