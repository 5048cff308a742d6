"""The log events operators alert on, from the delivery and web layers, with their fields.

The services' events are asserted in their own tests (tests/unit/services).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import fakeredis
import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from gmbot.cache.keys import CacheKeys
from gmbot.cache.leader import RedisLeaderLease
from gmbot.cache.update_claims import RedisUpdateClaims
from gmbot.delivery.guard import Admission, UpdateGuard
from gmbot.delivery.polling import LeaderPolling
from gmbot.metrics import Metrics
from gmbot.web.webhook import SECRET_HEADER, WebhookHandler
from tests.fakes.telegram import FakeSession

Client = TestClient[web.Request, web.Application]
Serve = Callable[[web.Application], Awaitable[Client]]
MessageHandler = Callable[[Message], Awaitable[None]]
SECRET = "s3cret"
UPDATE_ID = 5


def update_body(update_id: int = UPDATE_ID) -> bytes:
    user = {"id": 7, "is_bot": False, "first_name": "A"}
    message = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "from": user}
    return json.dumps({"update_id": update_id, "message": {**message, "text": "hi"}}).encode()


def redis(server: fakeredis.FakeServer | None = None) -> Any:
    return fakeredis.FakeAsyncRedis(server=server or fakeredis.FakeServer())


def claims(client: Any, lease: float = 5.0) -> RedisUpdateClaims:
    return RedisUpdateClaims(client, lease_seconds=lease, namespace="t:", instance_id="a")


def webhook_app(
    on_message: MessageHandler, *, budget: float = 5.0, guard: UpdateGuard | None = None
) -> web.Application:
    dp = Dispatcher()
    dp.message.register(on_message)
    handler = WebhookHandler(
        dp,
        Bot("1:a", session=FakeSession()),
        Metrics("w"),
        [SECRET],
        request_budget=budget,
        guard=guard,
    )
    app = web.Application()
    app.router.add_post("/webhook", handler.receive)
    return app


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[Client] = []

    async def start(app: web.Application) -> Client:
        client = Client(TestServer(app))
        await client.start_server()
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


async def post(client: Client, body: bytes, secret: str = SECRET) -> int:
    response = await client.post("/webhook", data=body, headers={SECRET_HEADER: secret})
    return response.status


async def ignore(message: Message) -> None:
    return None


# --------------------------------------------------------------------------- webhook


async def test_forged_request_logs_webhook_forbidden(serve: Serve) -> None:
    client = await serve(webhook_app(ignore))
    with capture_logs() as logs:
        assert await post(client, update_body(), secret="wrong") == 401
    assert logs == [{"event": "webhook_forbidden", "log_level": "warning", "remote": "127.0.0.1"}]


async def test_malformed_body_logs_webhook_malformed(serve: Serve) -> None:
    client = await serve(webhook_app(ignore))
    with capture_logs() as logs:
        assert await post(client, b"[1]") == 400
    assert logs == [
        {"event": "webhook_malformed", "log_level": "warning", "error": "not an object"}
    ]


async def test_failing_handler_logs_update_failed_with_the_traceback(serve: Serve) -> None:
    async def boom(message: Message) -> None:
        raise RuntimeError("boom")

    client = await serve(webhook_app(boom))
    with capture_logs() as logs:
        assert await post(client, update_body()) == 500
    assert logs == [
        {"event": "update_failed", "log_level": "error", "update_id": UPDATE_ID, "exc_info": True}
    ]


async def test_slow_handler_logs_webhook_budget_exceeded(serve: Serve) -> None:
    async def slow(message: Message) -> None:
        await asyncio.sleep(2)

    client = await serve(webhook_app(slow, budget=0.05))
    with capture_logs() as logs:
        assert await post(client, update_body()) == 503
    exceeded = {"event": "webhook_budget_exceeded", "log_level": "warning"}
    assert logs == [{**exceeded, "update_id": UPDATE_ID}]


async def test_claims_down_logs_update_dependency_unavailable_and_handles_nothing(
    serve: Serve,
) -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    handled: list[int] = []

    async def record(message: Message) -> None:
        handled.append(message.message_id)

    guard = UpdateGuard(claims(redis(server)), Metrics("w"), max_attempts=3)
    client = await serve(webhook_app(record, guard=guard))
    with capture_logs() as logs:
        response = await client.post(
            "/webhook", data=update_body(), headers={SECRET_HEADER: SECRET}
        )
    assert (response.status, response.headers.get("Retry-After")) == (503, "5")
    assert handled == []  # unclaimed, it could be handled twice: it comes back instead
    [entry] = logs
    assert entry.pop("error")
    assert entry == {
        "event": "update_dependency_unavailable",
        "log_level": "warning",
        "update_id": UPDATE_ID,
        "dependency": "redis",
    }


# --------------------------------------------------------------------------- guard


async def test_poison_update_logs_poison_update_dropped() -> None:
    guard = UpdateGuard(claims(redis()), Metrics("p"), max_attempts=1)

    async def boom() -> None:
        raise RuntimeError("always")

    ticket = await guard.admit(13)
    with pytest.raises(RuntimeError):
        await guard.run(ticket, boom)
    with capture_logs() as logs:
        assert (await guard.admit(13)).admission is Admission.POISON
    dropped = {"event": "poison_update_dropped", "log_level": "error"}
    assert logs == [{**dropped, "update_id": 13, "attempts": 1}]


async def test_lapsed_claim_logs_update_lease_lost() -> None:
    client = redis()
    guard = UpdateGuard(claims(client, lease=0.3), Metrics("l"), max_attempts=3)
    ticket = await guard.admit(21)

    async def work() -> None:
        await client.delete("t:update:21")  # the claim lapsed, as under a long stall
        await asyncio.sleep(0.4)  # well past the first renewal, at a third of the lease

    with capture_logs() as logs:
        await guard.run(ticket, work)
    assert logs == [{"event": "update_lease_lost", "log_level": "warning", "update_id": 21}]


# --------------------------------------------------------------------------- polling


class IdlePolling:
    """Stands in for the update poller: polls until told to stop."""

    async def run(self, halt: asyncio.Event) -> None:
        await halt.wait()


async def test_polling_leadership_logs_acquired_and_lost() -> None:
    client = redis()
    lease = RedisLeaderLease(client, lease_seconds=0.6, instance_id="p", namespace="t:")
    polling = LeaderPolling(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        lease,
        Metrics("p"),
        lease_seconds=0.6,
        allowed_updates=["message"],
        poller=IdlePolling(),
    )
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(polling.run(stop))
        await asyncio.sleep(0.05)
        await client.delete(CacheKeys("t:").leader)  # lost before the renewal at 0.2 s
        await asyncio.sleep(0.3)
        stop.set()
        await task
    assert logs[:2] == [
        {"event": "polling_leader_acquired", "log_level": "info", "token": lease.token},
        {"event": "polling_leader_lost", "log_level": "warning", "token": lease.token},
    ]
