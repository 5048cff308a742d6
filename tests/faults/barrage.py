"""Bad input for the webhook: malformed requests, and slow senders (slowloris).

Malformed requests are sent whole, with aiohttp (or, for broken HTTP, on a raw socket);
slow ones on raw sockets, one byte at a time: either the request head ("headers") or,
after a complete head, the body ("body"). Every answer's status is kept; a slow connection
also keeps when the server answered or closed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEPTH = 100_000  # deeper than any JSON parser's recursion limit
OVERSIZED = 2 * 1024 * 1024  # twice the webhook's 1 MiB limit


@dataclass(frozen=True)
class Malformed:
    name: str
    body: bytes
    secret: str | None = "ok"  # "ok": the right one; None: no header; else sent as is
    content_type: str = "application/json"
    chunked: bool = False  # sent without Content-Length
    method: str = "POST"


def malformed_requests(update_id: Callable[[], int]) -> list[Malformed]:
    """One of each kind; `update_id` gives fresh ids far from the emulator's."""

    def body(value: object) -> bytes:
        return json.dumps(value).encode()

    return [
        Malformed("invalid JSON", b'{"update_id": 1, "message": {'),
        Malformed("not UTF-8", b"\xff\xfe\xfa\x00garbage"),
        Malformed("empty body", b""),
        Malformed("JSON array", b"[1, 2, 3]"),
        Malformed("JSON null", b"null"),
        Malformed("deep object", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
        Malformed("deep array", b"[" * DEPTH + b"]" * DEPTH),
        Malformed("update_id a string", body({"update_id": "one", "message": {}})),
        Malformed(
            "message of the wrong type",
            body({"update_id": update_id(), "message": "hello"}),
        ),
        Malformed(
            "chat id a list",
            body(
                {
                    "update_id": update_id(),
                    "message": {"message_id": 1, "date": 0, "chat": {"id": [1], "type": "group"}},
                }
            ),
        ),
        Malformed("unknown update type", body({"update_id": update_id(), "future_kind": {"x": 1}})),
        Malformed("update_id only", body({"update_id": update_id()})),
        Malformed("oversized", b'{"update_id": 1, "pad": "' + b"x" * OVERSIZED + b'"}'),
        Malformed(
            "oversized, chunked",
            b'{"update_id": 1, "pad": "' + b"x" * OVERSIZED + b'"}',
            chunked=True,
        ),
        Malformed("wrong secret", body({"update_id": update_id()}), secret="not-the-secret"),
        Malformed("no secret", body({"update_id": update_id()}), secret=None),
        Malformed("form-encoded", b"update_id=1", content_type="application/x-www-form-urlencoded"),
        Malformed("GET", b"", method="GET"),
    ]


async def send_malformed(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    request: Malformed,
    tls: ssl.SSLContext | None = None,
) -> int | str:
    headers = {"Content-Type": request.content_type}
    if request.secret == "ok":
        headers[SECRET_HEADER] = secret
    elif request.secret is not None:
        headers[SECRET_HEADER] = request.secret
    data: object = request.body
    if request.chunked:

        async def chunks() -> object:
            for i in range(0, len(request.body), 64 * 1024):
                yield request.body[i : i + 64 * 1024]

        data = chunks()
    try:
        async with session.request(
            request.method,
            url,
            data=data if request.method == "POST" else None,
            headers=headers,
            ssl=tls if tls is not None else True,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The server may answer early (413) and close while the body is still going out.
        return f"closed: {type(exc).__name__}"


async def broken_http(host: str, port: int, tls: ssl.SSLContext | None = None) -> int | str:
    """A request line no HTTP server should accept."""
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    try:
        writer.write(b"BREW /webhook HTCPCP/1.0\r\nHost: x\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return _status(line) or "closed"
    except (OSError, TimeoutError) as exc:
        return f"closed: {type(exc).__name__}"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _status(line: bytes) -> int | None:
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


@dataclass
class SlowResult:
    mode: str  # "headers" or "body"
    status: int | None = None  # the server's answer, if it answered
    ended_after: float | None = None  # seconds until the server answered or closed
    error: str | None = None


async def slow_request(
    host: str,
    port: int,
    secret: str,
    mode: str,
    *,
    interval: float,
    give_up_after: float,
    tls: ssl.SSLContext | None = None,
) -> SlowResult:
    """One slowloris connection: a byte every `interval` seconds until the server answers
    or closes, or `give_up_after` seconds have passed (then it is closed by us)."""
    result = SlowResult(mode)
    body = json.dumps({"update_id": 1, "message": {"message_id": 1}}).encode() + b" " * 200
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"{SECRET_HEADER}: {secret}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    except OSError as exc:
        result.error = f"connect: {exc!r}"
        return result
    answer = asyncio.ensure_future(reader.readline())
    try:
        if mode == "body":
            writer.write(head)
            await writer.drain()
        trickle = head + body if mode == "headers" else body
        for i in range(len(trickle)):
            if answer.done() or time.monotonic() - started >= give_up_after:
                break
            writer.write(trickle[i : i + 1])
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(answer), interval)
        if answer.done():
            line = answer.result()
            result.status = _status(line)
            result.ended_after = time.monotonic() - started
            if not line:
                result.error = "closed by the server"
    except OSError as exc:  # the server closed the connection under us
        result.ended_after = time.monotonic() - started
        result.error = f"closed: {type(exc).__name__}"
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return result
