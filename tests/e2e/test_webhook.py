"""The webhook endpoint and probes over real HTTP (aiohttp test server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer

from tests.e2e.harness import (
    ADMIN,
    GROUP,
    MEMBER,
    STRANGER,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

SECRET = "s3cret_token-1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
OLD_SECRET = "old_secret"


@asynccontextmanager
async def serving(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[Harness, TestClient]]:  # type: ignore[type-arg]
    world = TelegramWorld()
    standard_world(world)
    settings = make_settings(
        tmp_path,
        webhook_secret=SECRET,
        webhook_secret_previous=OLD_SECRET,
        request_budget=3,
        outbox_claim_after=0.2,  # an action left unsettled comes back quickly
        **overrides,
    )
    h = await start_harness(settings, world)
    app, _probes = h.runtime.web_app()
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield h, client
    finally:
        await client.close()
        await h.runtime.stop()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Harness, TestClient]]:  # type: ignore[type-arg]
    async with serving(tmp_path) as both:
        yield both


def update(h: Harness, user_id: int, text: str, update_id: int = 1) -> dict:  # type: ignore[type-arg]
    return {"update_id": update_id, "message": h.message_payload(GROUP, user_id, text)}


async def post(client: TestClient, body: object, secret: str | None = SECRET) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    resp = await client.post("/webhook", data=data, headers=headers)
    return resp.status, await resp.json()


async def test_handled_update_answers_200_after_handling(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    status, _ = await post(client, update(h, ADMIN, "/protect @newschan"))
    assert status == 200
    # The reply was sent before the answer: the work was done inside the request.
    assert "Protection on" in h.last_bot_text(GROUP)
    # A gated message is only decided in the request: the workers act on it after.
    h.session.clear()
    status, _ = await post(client, update(h, STRANGER, "spam", 2))
    assert status == 200
    assert [c.method for c in h.session.calls] == ["getChatAdministrators"]
    assert h.world.status(GROUP, STRANGER) == "member"
    await h.drain()
    assert h.world.status(GROUP, STRANGER) == "restricted"


async def test_forged_and_missing_secret_get_401(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    assert (await post(client, update(h, MEMBER, "x"), secret="wrong"))[0] == 401
    assert (await post(client, update(h, MEMBER, "x"), secret=None))[0] == 401
    assert h.session.calls == []


async def test_previous_secret_is_accepted_during_rotation(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    assert (await post(client, update(h, MEMBER, "x"), secret=OLD_SECRET))[0] == 200


async def test_malformed_bodies_get_400(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    assert (await post(client, b"{not json"))[0] == 400
    assert (await post(client, [1, 2]))[0] == 400
    assert (await post(client, {"update_id": "x"}))[0] == 400
    # Nested far deeper than any update: the parser's recursion limit is no 500.
    deep = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert (await post(client, deep))[0] == 400
    # A plain message whose unread fields have the wrong types is no update either: the
    # fast path leaves it to full validation, which refuses it.
    for wrong in ({"date": "yesterday"}, {"entities": "bold"}, {"reply_to_message": 7}):
        body = update(h, STRANGER, "spam", 50)
        body["message"].update(wrong)
        assert (await post(client, body))[0] == 400, wrong
    assert h.session.calls == []


async def test_unknown_update_types_are_acknowledged_and_counted(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    # Telegram adds update types; this aiogram knows none of these: 200, never redelivered.
    for body in (
        {"update_id": 60, "a_future_update": {"id": 1}},
        {"update_id": 61},
    ):
        status, answer = await post(client, body)
        assert (status, answer) == (200, {"ok": True, "ignored": True})
    registry = h.runtime.services.metrics.registry
    counted = registry.get_sample_value(
        "bot_updates_total", {"instance_id": "test-1", "type": "unknown", "outcome": "ignored"}
    )
    assert counted == 2
    assert h.session.calls == []


async def test_long_retry_after_answers_503_with_retry_after(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    await post(client, update(h, ADMIN, "/protect @newschan"))
    h.session.stage(
        "getChatAdministrators", 429, "Too Many Requests: retry after 30", retry_after=30
    )
    resp = await client.post(
        "/webhook",
        data=json.dumps(update(h, MEMBER, "hi", 5)),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "30"


async def test_handler_crash_answers_500_so_telegram_redelivers(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served

    async def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("bug")

    assert h.runtime.services is not None
    h.runtime.services.gate.on_message = boom  # type: ignore[method-assign]
    status, body = await post(client, update(h, MEMBER, "hi"))
    assert status == 500
    assert body["ok"] is False


async def test_health_ready_metrics(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    health = await client.get("/health")
    assert health.status == 200
    assert (await health.json())["instance"] == "test-1"
    ready = await client.get("/ready")
    body = await ready.json()
    assert ready.status == 200, body
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert "telegram" in body["checks"]
    await post(client, update(h, MEMBER, "hi"))
    metrics = await (await client.get("/metrics")).text()
    assert 'bot_updates_total{instance_id="test-1"' in metrics
    assert "bot_update_duration_seconds_bucket" in metrics
    # Read from the pools at scrape time.
    assert 'bot_db_pool{instance_id="test-1",kind="checked_out"}' in metrics
    assert 'bot_redis_connections{instance_id="test-1",kind="in_use"}' in metrics


async def test_ready_names_the_failing_part(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    h.redis_reachable(False)
    try:
        ready = await client.get("/ready")
        body = await ready.json()
        assert ready.status == 503
        assert body["failing"] == ["redis"]
        assert body["checks"]["updates"] == "refused: redis unreachable"
    finally:
        h.redis_reachable(True)
    ready = await client.get("/ready")
    assert ready.status == 200
    assert (await ready.json())["checks"]["updates"] == "handled"


async def test_redelivered_update_is_acknowledged_without_acting_twice(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    await post(client, update(h, ADMIN, "/protect @newschan", 1))
    spam = update(h, STRANGER, "spam", 2)
    assert (await post(client, spam))[0] == 200
    await h.drain()
    sent = len(h.session.called("sendMessage"))
    restricted = len(h.session.called("restrictChatMember"))
    assert restricted == 1
    status, body = await post(client, spam)  # Telegram re-sends it
    assert status == 200
    assert body.get("duplicate") is True
    assert await h.drain() == 0
    assert len(h.session.called("sendMessage")) == sent
    assert len(h.session.called("restrictChatMember")) == restricted
    dup = h.runtime.services.metrics.registry.get_sample_value(  # type: ignore[union-attr]
        "bot_duplicate_updates_total", {"instance_id": "test-1"}
    )
    assert dup == 1


async def test_delivery_while_another_instance_handles_it_gets_503(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    assert h.runtime.guard is not None
    ticket = await h.runtime.guard.admit(42)  # "another instance" holds the lease
    status, _ = await post(client, update(h, MEMBER, "hi", 42))
    assert status == 503
    await h.runtime.guard._claims.release(42, ticket.token)
    assert (await post(client, update(h, MEMBER, "hi", 42)))[0] == 200


def passed_count(h: Harness) -> float:
    assert h.runtime.services is not None
    value = h.runtime.services.metrics.registry.get_sample_value(
        "bot_updates_total", {"instance_id": "test-1", "type": "message", "outcome": "passed"}
    )
    return value or 0.0


async def test_member_messages_take_the_fast_path(served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    await post(client, update(h, ADMIN, "/protect @newschan", 1))
    assert (await post(client, update(h, MEMBER, "first", 2)))[0] == 200
    await h.drain()  # a worker verifies the member; the verdict is cached
    validations = 0
    real = Update.model_validate

    def counting(*args: object, **kwargs: object) -> Update:
        nonlocal validations
        validations += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Update, "model_validate", counting)
    h.session.clear()
    before = passed_count(h)
    for i in range(3, 8):
        assert (await post(client, update(h, MEMBER, f"msg {i}", i)))[0] == 200
    assert validations == 0  # aiogram never saw them
    assert passed_count(h) == before + 5
    assert h.session.calls == []
    # A stranger's plain message also starts on the fast path and is still gated.
    assert (await post(client, update(h, STRANGER, "spam", 20)))[0] == 200
    assert validations == 0
    await h.drain()
    assert h.world.status(GROUP, STRANGER) == "restricted"
    assert (await post(client, update(h, STRANGER, "spam", 20)))[1].get("duplicate") is True


async def test_redis_down_answers_503_and_the_redelivery_is_handled_once(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    await post(client, update(h, ADMIN, "/protect @newschan", 1))
    spam = update(h, STRANGER, "spam", 2)
    h.session.clear()
    h.redis_reachable(False)
    try:
        # The fast path cannot ask Redis, nor can the ordinary path claim the update.
        response = await client.post(
            "/webhook", data=json.dumps(spam), headers={SECRET_HEADER: SECRET}
        )
        assert (response.status, response.headers["Retry-After"]) == (503, "1")
    finally:
        h.redis_reachable(True)
    assert h.session.calls == []
    assert h.world.status(GROUP, STRANGER) == "member"
    assert (await post(client, spam))[0] == 200  # Telegram delivers it again
    await h.drain()
    assert h.world.status(GROUP, STRANGER) == "restricted"
    assert (await post(client, spam))[1].get("duplicate") is True
    assert len(h.session.called("restrictChatMember")) == 1


async def test_prompt_deferred_by_a_long_retry_after_is_sent_later_once(served) -> None:  # type: ignore[no-untyped-def]
    h, client = served
    await post(client, update(h, ADMIN, "/protect @newschan", 1))
    h.session.clear()
    spam = update(h, STRANGER, "spam", 2)
    # Longer than a worker waits in line: the prompt is left in the outbox for later.
    h.session.stage("sendMessage", 429, "Too Many Requests: retry after 300", retry_after=300)
    assert (await post(client, spam))[0] == 200  # the webhook only decided
    await h.drain()
    assert spam["message"]["message_id"] not in h.world.messages[GROUP]
    assert h.world.status(GROUP, STRANGER) == "restricted"
    assert len(h.session.called("sendMessage")) == 1
    assert prompts_for(h, STRANGER) == []
    assert await (await h.outbox()).backlog() == 1
    # The 300 s have passed: the hold is over and the postponed prompt is due.
    await h.redis.delete(*await h.redis.keys("*:rate*"))
    [due_set] = await h.redis.keys("*outbox:due")
    postponed = await h.redis.zrange(due_set, 0, -1)
    assert len(postponed) == 1
    await h.redis.zadd(due_set, dict.fromkeys(postponed, 0))
    assert await h.drain() == 1
    assert len(prompts_for(h, STRANGER)) == 1
    await asyncio.sleep(0.3)
    assert await h.drain() == 0  # settled: never sent twice
    assert len(prompts_for(h, STRANGER)) == 1


def prompts_for(h: Harness, user_id: int) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in h.bot_messages(GROUP) if f"tg://user?id={user_id}" in m["text"]]
