"""Polling leadership, the shared 429 hold and the one-time webhook registration."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import fakeredis
import pytest
from aiogram import Bot

from gmbot.cache.leader import RedisLeaderLease
from gmbot.cache.rate_limiter import RedisRateLimiter
from gmbot.delivery.polling import LeaderPolling
from gmbot.delivery.webhook_setup import WebhookRegistrar, webhook_config
from gmbot.metrics import Metrics
from gmbot.telegram.gateway import AiogramGateway
from tests.fakes.telegram import FakeSession


@pytest.fixture
def redis() -> Any:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


class FakePolling:
    """Stands in for the update poller: polls until told to stop."""

    def __init__(self) -> None:
        self.polling = False

    async def run(self, halt: asyncio.Event) -> None:
        self.polling = True
        await halt.wait()
        self.polling = False


def leader(redis: Any, name: str, lease: float = 0.3) -> tuple[LeaderPolling, FakePolling]:
    dp = FakePolling()
    lease_obj = RedisLeaderLease(redis, lease_seconds=lease, instance_id=name, namespace="t:")
    lp = LeaderPolling(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        lease_obj,
        Metrics(name),
        lease_seconds=lease,
        allowed_updates=["message"],
        poller=dp,
    )
    return lp, dp


async def test_exactly_one_instance_polls_and_another_takes_over(redis: Any) -> None:
    instances = [leader(redis, f"i{n}") for n in range(3)]
    stops = [asyncio.Event() for _ in instances]
    runners = [lp for lp, _ in instances]
    tasks = [asyncio.create_task(lp.run(stop)) for lp, stop in zip(runners, stops, strict=True)]
    await asyncio.sleep(0.5)
    polling = [i for i, (_, dp) in enumerate(instances) if dp.polling]
    assert len(polling) == 1
    first = polling[0]
    stops[first].set()  # the leader stops (graceful: it releases the lease)
    await tasks[first]
    await asyncio.sleep(0.5)
    now = [i for i, (_, dp) in enumerate(instances) if dp.polling]
    assert len(now) == 1
    assert now[0] != first
    for stop in stops:
        stop.set()
    await asyncio.gather(*tasks)


async def test_a_dead_leader_is_replaced_within_a_lease(redis: Any) -> None:
    (lp1, dp1), (lp2, dp2) = leader(redis, "a"), leader(redis, "b")
    s1, s2 = asyncio.Event(), asyncio.Event()
    t1 = asyncio.create_task(lp1.run(s1))
    await asyncio.sleep(0.2)
    t2 = asyncio.create_task(lp2.run(s2))
    await asyncio.sleep(0.2)
    assert dp1.polling
    assert not dp2.polling
    t1.cancel()  # killed: no release, the lease must lapse
    started = time.monotonic()
    while not dp2.polling and time.monotonic() - started < 3:  # noqa: ASYNC110 - polls a flag
        await asyncio.sleep(0.02)
    assert dp2.polling
    assert time.monotonic() - started < 0.3 + 0.3  # lease + one retry period
    s2.set()
    await t2


async def test_retry_after_seen_by_one_instance_holds_back_the_others(redis: Any) -> None:
    s1, s2 = FakeSession(), FakeSession()
    for s in (s1, s2):
        s.world.chat(-5, "supergroup", "G")
    gw1 = AiogramGateway(
        Bot("1:a", session=s1), Metrics("a"), RedisRateLimiter(redis, namespace="t:")
    )
    gw2 = AiogramGateway(
        Bot("1:a", session=s2), Metrics("b"), RedisRateLimiter(redis, namespace="t:")
    )
    s1.stage("getChat", 429, "Too Many Requests: retry after 1", retry_after=1)
    first = asyncio.create_task(gw1.get_chat(-5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await gw2.get_chat(-5)  # another instance: its reads wait for the shared hold
    assert time.monotonic() - started > 0.7
    await first


async def test_webhook_is_registered_once_per_configuration(redis: Any) -> None:
    sessions = [FakeSession() for _ in range(3)]
    cfg = webhook_config("https://bot.example/webhook", "s1", ["message"], 40)
    regs = [WebhookRegistrar(Bot("1:a", session=s), redis, cfg, namespace="t:") for s in sessions]
    results = await asyncio.gather(*(r.ensure() for r in regs))
    assert sorted(results) == [False, False, True]
    assert sum(len(s.called("setWebhook")) for s in sessions) == 1
    # Restarting with the same configuration registers nothing.
    assert not await WebhookRegistrar(
        Bot("1:a", session=sessions[0]), redis, cfg, namespace="t:"
    ).ensure()
    # A new secret is registered once, and the previous one is honoured until then.
    rotated = webhook_config("https://bot.example/webhook", "s2", ["message"], 40)
    new = WebhookRegistrar(Bot("1:a", session=sessions[1]), redis, rotated, namespace="t:")
    assert await new.previous_secret_allowed()
    assert await new.ensure()
    assert not await new.previous_secret_allowed()
    call = sessions[1].called("setWebhook")[-1]
    assert call.params["secret_token"] == "s2"
    assert (
        "drop_pending_updates" not in call.params or call.params["drop_pending_updates"] != "true"
    )


async def test_forced_registration_and_forget(redis: Any) -> None:
    session = FakeSession()
    cfg = webhook_config("https://bot.example/webhook", "s1", ["message"], 40)
    reg = WebhookRegistrar(Bot("1:a", session=session), redis, cfg, namespace="t:")
    assert await reg.ensure()
    assert await reg.ensure(force=True)  # the operator's explicit set-webhook
    assert len(session.called("setWebhook")) == 2
    await reg.forget()  # after delete-webhook, the next start registers again
    fresh = WebhookRegistrar(Bot("1:a", session=session), redis, cfg, namespace="t:")
    assert await fresh.ensure()
