"""Update claims (Redis) and the guard that turns them into handle-once delivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import fakeredis
import pytest

from gmbot.cache.outbox import RedisOutbox
from gmbot.cache.update_claims import ClaimState, RedisUpdateClaims
from gmbot.delivery.guard import Admission, UpdateGuard
from gmbot.domain.actions import Action, ActionKind
from gmbot.domain.fencing import LeaseLost, check_fence
from gmbot.metrics import Metrics


@pytest.fixture
def redis() -> Any:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


def claims(redis: Any, lease: float = 5.0, instance: str = "a") -> RedisUpdateClaims:
    return RedisUpdateClaims(redis, lease_seconds=lease, namespace="t:", instance_id=instance)


def dup_count(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "bot_duplicate_updates_total", {"instance_id": metrics.instance_id}
    )
    return value or 0.0


async def test_claim_lifecycle(redis: Any) -> None:
    a, b = claims(redis, instance="a"), claims(redis, instance="b")
    first = await a.claim(1)
    assert (first.state, first.attempt) == (ClaimState.CLAIMED, 1)
    assert (await b.claim(1)).state is ClaimState.LEASED
    await a.release(1, first.token)
    again = await b.claim(1)
    assert (again.state, again.attempt) == (ClaimState.CLAIMED, 2)
    assert await b.finish(1, again.token)
    assert (await a.claim(1)).state is ClaimState.DONE
    assert await redis.ttl("t:update:1") > 86000


async def test_release_and_renew_only_touch_our_own_lease(redis: Any) -> None:
    a, b = claims(redis, lease=0.2), claims(redis)
    first = await a.claim(7)
    assert await a.renew(7, first.token)
    await asyncio.sleep(0.3)  # the holder died: its lease lapses
    taken = await b.claim(7)
    assert taken.state is ClaimState.CLAIMED
    assert not await a.renew(7, first.token)
    await a.release(7, first.token)  # the dead holder's late release changes nothing
    assert (await a.claim(7)).state is ClaimState.LEASED


async def test_guard_handles_once_and_counts_duplicates(redis: Any) -> None:
    metrics = Metrics("g1")
    guard = UpdateGuard(claims(redis), metrics, max_attempts=3)
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    ticket = await guard.admit(10)
    assert ticket.admission is Admission.HANDLE
    assert await guard.run(ticket, work) == "ok"
    again = await guard.admit(10)
    assert again.admission is Admission.DUPLICATE_DONE
    assert calls == 1
    assert dup_count(metrics) == 1


async def test_guard_in_flight_duplicate_and_lease_renewal(redis: Any) -> None:
    metrics = Metrics("g2")
    guard = UpdateGuard(claims(redis, lease=0.3), metrics, max_attempts=3)
    other = UpdateGuard(claims(redis, lease=0.3, instance="b"), Metrics("g3"), max_attempts=3)
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    ticket = await guard.admit(11)
    running = asyncio.create_task(guard.run(ticket, slow))
    await asyncio.sleep(0.8)  # well past the lease: renewal must have kept it
    assert (await other.admit(11)).admission is Admission.DUPLICATE_IN_FLIGHT
    release.set()
    await running
    assert (await other.admit(11)).admission is Admission.DUPLICATE_DONE


async def test_failed_handler_releases_so_the_next_delivery_retries(redis: Any) -> None:
    guard = UpdateGuard(claims(redis), Metrics("g4"), max_attempts=3)

    async def boom() -> None:
        raise RuntimeError("bug")

    ticket = await guard.admit(12)
    with pytest.raises(RuntimeError):
        await guard.run(ticket, boom)
    assert (await guard.admit(12)).admission is Admission.HANDLE


async def test_poison_update_is_acknowledged_after_max_attempts(redis: Any) -> None:
    metrics = Metrics("g5")
    audited: list[tuple[int, int, int | None]] = []

    async def on_poison(update_id: int, attempts: int, chat_id: int | None) -> None:
        audited.append((update_id, attempts, chat_id))

    guard = UpdateGuard(claims(redis), metrics, max_attempts=2, on_poison=on_poison)

    async def boom() -> None:
        raise RuntimeError("always")

    for _ in range(2):
        ticket = await guard.admit(13, chat_id=-100)
        assert ticket.admission is Admission.HANDLE
        with pytest.raises(RuntimeError):
            await guard.run(ticket, boom)
    assert (await guard.admit(13, chat_id=-100)).admission is Admission.POISON
    assert audited == [(13, 2, -100)]
    assert (await guard.admit(13)).admission is Admission.DUPLICATE_DONE
    poison = metrics.registry.get_sample_value("bot_poison_updates_total", {"instance_id": "g5"})
    assert poison == 1


async def test_concurrent_claims_admit_exactly_one(redis: Any) -> None:
    guards = [
        UpdateGuard(claims(redis, instance=str(i)), Metrics(f"c{i}"), max_attempts=3)
        for i in range(10)
    ]
    tickets = await asyncio.gather(*(g.admit(99) for g in guards))
    assert sum(t.admission is Admission.HANDLE for t in tickets) == 1


async def test_a_stale_holders_done_mark_is_refused(redis: Any) -> None:
    a, b = claims(redis, lease=0.2), claims(redis, instance="b")
    stale = await a.claim(8)
    await asyncio.sleep(0.3)  # the holder froze: its lease lapsed
    live = await b.claim(8)
    assert live.state is ClaimState.CLAIMED
    assert not await a.finish(8, stale.token)
    assert (await a.claim(8)).state is ClaimState.LEASED  # still the live holder's
    assert await b.finish(8, live.token)
    assert (await a.claim(8)).state is ClaimState.DONE


async def test_a_lapsed_lease_nobody_took_is_still_marked_done(redis: Any) -> None:
    a = claims(redis, lease=0.2)
    held = await a.claim(9)
    await asyncio.sleep(0.3)
    assert await a.finish(9, held.token)  # the work was done: a redelivery must not redo it
    assert (await a.claim(9)).state is ClaimState.DONE


async def test_a_holder_frozen_past_its_lease_makes_no_call_and_marks_nothing(
    redis: Any,
) -> None:
    guard = UpdateGuard(claims(redis, lease=0.3), Metrics("f1"), max_attempts=3)
    other = UpdateGuard(claims(redis, lease=0.3, instance="b"), Metrics("f2"), max_attempts=3)
    outbox = RedisOutbox(redis, namespace="t:")
    calls: list[str] = []

    async def frozen() -> None:
        time.sleep(0.45)  # noqa: ASYNC251 - the process frozen (SIGSTOP): nothing else runs
        assert (await other.admit(21)).admission is Admission.HANDLE  # the redelivery
        with pytest.raises(LeaseLost):  # Redis refuses the stale holder's record
            await outbox.record([Action(ActionKind.DELETE, -100, "del:-100:5", {"message": "5"})])
        check_fence()  # what the gateway asks before every Bot API call
        calls.append("telegram")

    ticket = await guard.admit(21)
    with pytest.raises(LeaseLost):
        await guard.run(ticket, frozen)
    assert calls == []
    assert await outbox.backlog() == 0
    # Not marked done by the stale holder: the live one still has it.
    assert (await other.admit(21)).admission is Admission.DUPLICATE_IN_FLIGHT


async def test_a_live_holders_fence_lets_its_work_through(redis: Any) -> None:
    guard = UpdateGuard(claims(redis, lease=0.3), Metrics("f3"), max_attempts=3)
    outbox = RedisOutbox(redis, namespace="t:")

    async def work() -> int:
        await asyncio.sleep(0.5)  # longer than the lease: renewals keep it ours
        check_fence()
        return await outbox.record(
            [Action(ActionKind.DELETE, -100, "del:-100:6", {"message": "6"})]
        )

    ticket = await guard.admit(22)
    assert await guard.run(ticket, work) == 1
    check_fence()  # outside any work: nothing to check
    assert (await guard.admit(22)).admission is Admission.DUPLICATE_DONE
