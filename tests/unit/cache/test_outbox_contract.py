"""The Outbox contract, run on the in-memory fake, on RedisOutbox over fakeredis and
(marked `redis`) on RedisOutbox over a real Redis (TEST_REDIS_URL, default
redis://127.0.0.1:6379/15) in a namespace of its own that is deleted afterwards.

Then what only the Redis adapter has: its keys, its round trips, and the paths that
need Redis' own state (a blocking read past `count`, an entry no one can decode).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gmbot.cache import create_redis
from gmbot.cache.outbox import RedisOutbox
from gmbot.domain.actions import Action, ActionKind, OutboxEntry, Priority
from gmbot.domain.fencing import Fence, LeaseLost, fenced
from gmbot.domain.ports import CacheUnavailable, Outbox
from tests.fakes.clock import FakeClock
from tests.fakes.outbox import InMemoryOutbox
from tests.unit.cache.conftest import logging_connection

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHAT = -1001
SHORT_CLAIM_MS = 100  # long enough that no test step outlasts it by accident


def act(kind: ActionKind, key: str, **fields: str) -> Action:
    return Action(kind, CHAT, key, fields)


def keys(entries: list[OutboxEntry]) -> list[str]:
    return [e.action.key for e in entries]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def delete_namespace(client: Redis, namespace: str) -> None:
    found = [key async for key in client.scan_iter(match=f"{namespace}*", count=1000)]
    if found:
        await client.delete(*found)


class Backend:
    """Builds the outbox under test and plays what happens around it."""

    def outbox(
        self, claim_after_ms: int = 15000, max_block_ms: int = 2000, key_ttl: int = 86400
    ) -> Outbox:
        raise NotImplementedError

    def broken(self) -> Outbox:
        """An outbox whose store cannot be reached."""
        raise NotImplementedError

    async def elapse(self, seconds: float) -> None:
        raise NotImplementedError

    async def mark_done_unacknowledged(self, key: str) -> None:
        """A settle whose done mark landed but whose acknowledgement did not."""
        raise NotImplementedError

    async def lose_streams(self) -> None:
        raise NotImplementedError

    async def lose_everything(self) -> None:
        raise NotImplementedError


class FakeBackend(Backend):
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.fake: InMemoryOutbox | None = None

    def outbox(
        self, claim_after_ms: int = 15000, max_block_ms: int = 2000, key_ttl: int = 86400
    ) -> Outbox:
        self.fake = InMemoryOutbox(
            self.clock,
            claim_after=claim_after_ms / 1000,
            max_block=max_block_ms / 1000,
            key_ttl=key_ttl,
        )
        return self.fake

    def broken(self) -> Outbox:
        outbox = InMemoryOutbox(self.clock)
        outbox.available = False
        return outbox

    async def elapse(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def mark_done_unacknowledged(self, key: str) -> None:
        assert self.fake is not None
        self.fake.mark_done(key)

    async def lose_streams(self) -> None:
        assert self.fake is not None
        self.fake.lose_streams()

    async def lose_everything(self) -> None:
        assert self.fake is not None
        self.fake.lose_everything()


class RedisBackend(Backend):
    def __init__(self, client: Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def outbox(
        self, claim_after_ms: int = 15000, max_block_ms: int = 2000, key_ttl: int = 86400
    ) -> Outbox:
        return RedisOutbox(
            self.client,
            namespace=self.namespace,
            claim_after_ms=claim_after_ms,
            max_block_ms=max_block_ms,
            key_ttl=key_ttl,
        )

    def broken(self) -> Outbox:
        dead = Redis(
            host="127.0.0.1",
            port=closed_port(),
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),  # fail at once, not after redis-py's retries
        )
        return RedisOutbox(dead, namespace=self.namespace)

    async def elapse(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def mark_done_unacknowledged(self, key: str) -> None:
        await self.client.set(f"{self.namespace}act:{key}", "done", keepttl=True)

    async def lose_streams(self) -> None:
        await self.client.delete(*(f"{self.namespace}outbox:{p}" for p in range(5)))

    async def lose_everything(self) -> None:
        await delete_namespace(self.client, self.namespace)


@asynccontextmanager
async def real_redis() -> AsyncIterator[tuple[Redis, str]]:
    """A client of the real Redis and a namespace of its own, deleted afterwards."""
    client, embedded = create_redis(REDIS_URL, max_connections=20)
    assert not embedded
    namespace = f"gmbot-test-{uuid.uuid4().hex[:12]}:"
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    try:
        yield client, namespace
    finally:
        await delete_namespace(client, namespace)
        await client.aclose()


@pytest.fixture(params=["fake", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "fake":
        yield FakeBackend()
    elif request.param == "fakeredis":
        fake = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        yield RedisBackend(fake, "t:")
        await fake.aclose()
    else:
        async with real_redis() as (client, namespace):
            yield RedisBackend(client, namespace)


# --------------------------------------------------------------------------- contract


async def test_a_key_is_recorded_once_within_a_call_and_across_calls(backend: Backend) -> None:
    outbox = backend.outbox()
    a = act(ActionKind.DELETE, "del:1:10", message="10")
    assert await outbox.record([a, a]) == 1
    assert await outbox.record([a]) == 0
    assert await outbox.record([a, act(ActionKind.MUTE, "mute:1:7", user="7")]) == 1
    assert await outbox.record([]) == 0
    assert await outbox.backlog() == 2
    assert keys(await outbox.take("w1", 10)) == ["del:1:10", "mute:1:7"]


async def test_entries_come_out_by_priority_then_in_record_order(backend: Backend) -> None:
    outbox = backend.outbox()
    recorded = [
        act(ActionKind.REPORT, "report", text="raid"),
        act(ActionKind.PROMPT, "prompt", user="7", reply_to="10"),
        act(ActionKind.DELETE, "del:10", message="10"),
        act(ActionKind.MUTE, "mute", user="7"),
        act(ActionKind.CHECK, "check"),
        act(ActionKind.DELETE, "del:11", message="11"),
        act(ActionKind.NOTICE, "notice", text="a <b>shared</b> notice, with: f.oddities"),
    ]
    assert await outbox.record(recorded) == len(recorded)
    taken = await outbox.take("w1", 10)
    assert keys(taken) == ["del:10", "del:11", "mute", "check", "prompt", "notice", "report"]
    by_key = {a.key: a for a in recorded}
    for entry in taken:
        assert entry.action == by_key[entry.action.key]  # kind, chat, key and fields
        assert entry.deliveries == 1
    assert len({e.entry_id for e in taken}) == len(taken)


async def test_count_goes_to_the_highest_priorities_first(backend: Backend) -> None:
    outbox = backend.outbox()
    await outbox.record([act(ActionKind.REPORT, f"log{i}") for i in range(3)])
    await outbox.record([act(ActionKind.DELETE, f"del{i}") for i in range(2)])
    assert keys(await outbox.take("w1", 3)) == ["del0", "del1", "log0"]
    assert keys(await outbox.take("w1", 10)) == ["log1", "log2"]
    assert await outbox.take("w1", 10) == []
    assert await outbox.take("w1", 0) == []


async def test_take_can_be_limited_to_some_priorities(backend: Backend) -> None:
    outbox = backend.outbox()
    await outbox.record(
        [
            act(ActionKind.REPORT, "log"),
            act(ActionKind.MUTE, "mute"),
            act(ActionKind.DELETE, "del"),
            act(ActionKind.PROMPT, "prompt"),
        ]
    )
    assert keys(await outbox.take("w1", 10, priorities=[Priority.LOG])) == ["log"]
    picked = await outbox.take("w1", 10, priorities=[Priority.MUTE, Priority.DELETE])
    assert keys(picked) == ["del", "mute"]
    assert await outbox.take("w1", 10, priorities=[]) == []
    assert keys(await outbox.take("w1", 10)) == ["prompt"]


async def test_two_consumers_never_get_the_same_entry(backend: Backend) -> None:
    outbox = backend.outbox()
    kinds = [ActionKind.DELETE, ActionKind.MUTE, ActionKind.REPORT]
    await outbox.record([act(kinds[i % 3], f"k{i}") for i in range(30)])
    batches = await asyncio.gather(*(outbox.take(f"w{i}", 4) for i in range(6)))
    while taken := await outbox.take("late", 4):
        batches.append(taken)
    ids = [e.entry_id for batch in batches for e in batch]
    assert len(ids) == len(set(ids)) == 30
    assert sorted(k for batch in batches for k in keys(batch)) == sorted(f"k{i}" for i in range(30))


async def test_a_dead_consumers_entries_go_to_another_after_claim_after(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del"), act(ActionKind.REPORT, "log")])
    assert keys(await outbox.take("dead", 10)) == ["del", "log"]
    assert await outbox.take("alive", 10) == []  # still the dead one's, for now
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    reclaimed = await outbox.take("alive", 10)
    assert keys(reclaimed) == ["del", "log"]
    assert [e.deliveries for e in reclaimed] == [2, 2]
    assert await outbox.take("dead", 10) == []  # the live one holds them now
    await outbox.settle(reclaimed[:1])
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    again = await outbox.take("third", 10)
    assert keys(again) == ["log"]
    assert again[0].deliveries == 3


async def test_a_consumer_at_work_keeps_its_entries_by_extending_them(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del"), act(ActionKind.PROMPT, "prompt")])
    held = await outbox.take("busy", 10)
    for _ in range(3):  # three claim timeouts in all, each cut short by an extension
        await backend.elapse(SHORT_CLAIM_MS * 0.6 / 1000)
        assert len(await outbox.extend("busy", held)) == 2
        await backend.elapse(SHORT_CLAIM_MS * 0.6 / 1000)
        assert await outbox.take("other", 10) == []
        assert len(await outbox.extend("busy", held)) == 2
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)  # no extension now: taken over
    taken = await outbox.take("other", 10)
    assert keys(taken) == ["del", "prompt"]
    assert [e.deliveries for e in taken] == [2, 2]  # extending is no new delivery


async def test_extending_never_takes_back_what_another_consumer_took(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del")])
    held = await outbox.take("frozen", 10)
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    taken = await outbox.take("alive", 10)
    assert keys(taken) == ["del"]
    assert await outbox.extend("frozen", held) == []
    await backend.elapse(SHORT_CLAIM_MS * 0.6 / 1000)
    assert await outbox.extend("alive", taken) == taken
    await backend.elapse(SHORT_CLAIM_MS * 0.6 / 1000)
    assert await outbox.take("frozen", 10) == []  # still the live consumer's
    await outbox.settle(taken)
    assert await outbox.extend("alive", taken) == []  # settled: nothing left to extend


async def test_a_postponed_entry_comes_back_after_its_delay_to_any_consumer(
    backend: Backend,
) -> None:
    outbox = backend.outbox()
    await outbox.record([act(ActionKind.MUTE, "mute", user="7"), act(ActionKind.DELETE, "del")])
    taken = await outbox.take("w1", 10)
    mute = next(e for e in taken if e.action.key == "mute")
    assert await outbox.postpone([mute], 0.2) == 1
    assert await outbox.backlog() == 2  # still to do, waiting
    assert keys(await outbox.take("w2", 10)) == []  # del is w1's; mute not due yet
    await backend.elapse(0.3)
    again = await outbox.take("w2", 10)
    assert keys(again) == ["mute"]
    assert again[0].action.fields == {"user": "7"}
    assert again[0].deliveries == 2  # the attempts go on counting
    assert await outbox.postpone(again, 0) == 1
    third = await outbox.take("w3", 10)
    assert [e.deliveries for e in third] == [3]
    assert await outbox.settle(third) == 1
    assert await outbox.record([act(ActionKind.MUTE, "mute", user="7")]) == 0  # still done


def later(kind: ActionKind, key: str, delay: float, **fields: str) -> Action:
    return Action(kind, CHAT, key, fields, delay=delay)


async def test_a_delayed_action_is_handed_out_once_due_to_any_consumer(backend: Backend) -> None:
    outbox = backend.outbox()
    recorded = [later(ActionKind.EXPEL, "expel", 0.2, user="7"), act(ActionKind.DELETE, "del")]
    assert await outbox.record(recorded) == 2
    assert await outbox.backlog() == 2  # both still to do, one waiting
    assert keys(await outbox.take("w1", 10)) == ["del"]  # not due yet
    assert keys(await outbox.take("w1", 10)) == []
    await backend.elapse(0.3)
    [due] = await outbox.take("w2", 10)
    assert (due.action.kind, due.action.key, due.action.fields) == (
        ActionKind.EXPEL,
        "expel",
        {"user": "7"},
    )
    assert due.action.delay == 0.0  # handed out due: recording it again would not wait
    assert due.deliveries == 1  # its first attempt
    assert await outbox.settle([due]) == 1
    assert await outbox.take("w3", 10) == []
    assert await outbox.record([later(ActionKind.EXPEL, "expel", 0.2, user="7")]) == 0


async def test_a_delayed_key_is_recorded_once_while_it_waits(backend: Backend) -> None:
    outbox = backend.outbox()
    first = later(ActionKind.EXPEL, "expel:1:7", 0.2, user="7", message="10")
    assert await outbox.record([first]) == 1
    # Four more offences of the same member: one timer, the first one's.
    again = later(ActionKind.EXPEL, "expel:1:7", 0.2, user="7", message="11")
    assert await outbox.record([again, again]) == 0
    assert await outbox.record([act(ActionKind.EXPEL, "expel:1:7", user="7")]) == 0
    assert await outbox.backlog() == 1
    await backend.elapse(0.3)
    [due] = await outbox.take("w1", 10)
    assert due.action.fields["message"] == "10"


async def test_delayed_actions_come_out_soonest_first_within_their_priority(
    backend: Backend,
) -> None:
    outbox = backend.outbox()
    await outbox.record(
        [
            later(ActionKind.EXPEL, "slow", 0.25),
            later(ActionKind.EXPEL, "fast", 0.05),
            later(ActionKind.PROMPT, "prompt", 0.05),
        ]
    )
    await backend.elapse(0.1)
    assert keys(await outbox.take("w1", 10)) == ["fast", "prompt"]
    await backend.elapse(0.2)
    assert keys(await outbox.take("w1", 10)) == ["slow"]


async def test_a_delayed_key_outlives_the_key_ttl_by_its_delay(backend: Backend) -> None:
    outbox = backend.outbox(key_ttl=1)
    assert await outbox.record([later(ActionKind.EXPEL, "expel", 2.0)]) == 1
    await backend.elapse(1.3)  # past key_ttl, well within key_ttl + delay: still known
    assert await outbox.record([later(ActionKind.EXPEL, "expel", 2.0)]) == 0
    assert keys(await outbox.take("w1", 10)) == []  # not due yet
    await backend.elapse(0.9)
    assert keys(await outbox.take("w1", 10)) == ["expel"]


async def test_a_forgotten_delayed_key_may_start_a_new_timer(backend: Backend) -> None:
    outbox = backend.outbox()
    assert await outbox.record([later(ActionKind.EXPEL, "expel", 0.1, message="1")]) == 1
    await backend.elapse(0.2)
    [due] = await outbox.take("w1", 10)
    await outbox.forget(["expel"])  # the timer fired: the episode is over
    await outbox.settle([due])
    assert await outbox.record([later(ActionKind.EXPEL, "expel", 0.1, message="2")]) == 1
    await backend.elapse(0.2)
    [second] = await outbox.take("w1", 10)
    assert second.action.fields["message"] == "2"


async def test_a_consumer_taken_over_can_neither_settle_nor_postpone(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del"), act(ActionKind.MUTE, "mute", user="1")])
    stale = await outbox.take("frozen", 10)
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    live = await outbox.take("alive", 10)
    assert keys(live) == ["del", "mute"]
    assert await outbox.settle(stale) == 0  # the stale holder's acknowledgement is refused
    assert await outbox.postpone(stale, 0) == 0
    assert await outbox.backlog() == 2
    # Its done marks were refused too: the key is not done, the live consumer's entry stands.
    assert await outbox.settle(live) == 2
    assert await outbox.backlog() == 0


async def test_a_second_take_by_the_same_consumer_fences_out_the_first(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del")])
    first = await outbox.take("w1", 10)
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    second = await outbox.take("w1", 10)  # the same name, after its claim lapsed
    assert [e.claim for e in second] == [first[0].claim + 1]
    assert await outbox.extend("w1", first) == []
    assert await outbox.settle(first) == 0
    assert await outbox.settle(second) == 1


async def test_record_under_a_lost_lease_raises_and_writes_nothing(backend: Backend) -> None:
    outbox = backend.outbox()
    gone = Fence("update 7", time.monotonic() - 1, redis_key="t:nobody-holds-this", token="x")
    with fenced(gone), pytest.raises(LeaseLost):
        await outbox.record([act(ActionKind.DELETE, "del")])
    assert await outbox.backlog() == 0
    assert await outbox.record([act(ActionKind.DELETE, "del")]) == 1  # the key was not taken


async def test_a_reclaim_counts_within_count_and_priority(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.REPORT, "log-old")])
    await outbox.take("dead", 10)
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    await outbox.record([act(ActionKind.DELETE, "del-new"), act(ActionKind.REPORT, "log-new")])
    assert keys(await outbox.take("alive", 2)) == ["del-new", "log-old"]
    assert keys(await outbox.take("alive", 2)) == ["log-new"]


async def test_settled_entries_never_come_back(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    a, b = act(ActionKind.DELETE, "del"), act(ActionKind.MUTE, "mute")
    await outbox.record([a, b])
    taken = await outbox.take("w1", 10)
    await outbox.settle(taken)
    assert await outbox.backlog() == 0
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    assert await outbox.take("w2", 10) == []
    assert await outbox.record([a, b]) == 0  # a replayed decision records nothing
    assert await outbox.take("w2", 10) == []
    await outbox.settle([])
    await outbox.settle(taken)  # settling twice changes nothing
    assert await outbox.backlog() == 0


async def test_a_done_entry_whose_acknowledgement_was_lost_is_skipped(backend: Backend) -> None:
    outbox = backend.outbox(claim_after_ms=SHORT_CLAIM_MS)
    await outbox.record([act(ActionKind.DELETE, "del"), act(ActionKind.MUTE, "mute")])
    await outbox.take("dead", 10)
    await backend.mark_done_unacknowledged("del")  # carried out; it died before the ack
    await backend.elapse(SHORT_CLAIM_MS * 1.5 / 1000)
    assert keys(await outbox.take("alive", 10)) == ["mute"]
    assert await outbox.backlog() == 1  # the done one was settled, not handed out


async def test_a_second_entry_of_a_key_carried_out_meanwhile_is_skipped(backend: Backend) -> None:
    outbox = backend.outbox()
    mute = act(ActionKind.MUTE, "mute:7")
    await outbox.record([mute])
    first = await outbox.take("w1", 10)
    await outbox.forget(["mute:7"])
    assert await outbox.record([mute]) == 1
    await outbox.settle(first)  # the first one was carried out: the key is done
    assert await outbox.take("w2", 10) == []
    assert await outbox.backlog() == 0


async def test_forget_lets_a_key_be_recorded_again(backend: Backend) -> None:
    outbox = backend.outbox()
    mute = act(ActionKind.MUTE, "mute:7", user="7")
    await outbox.record([mute])
    await outbox.settle(await outbox.take("w1", 10))
    await outbox.forget(["mute:7", "never-recorded"])
    await outbox.forget([])
    assert await outbox.record([mute]) == 1
    again = await outbox.take("w1", 10)
    assert [e.action for e in again] == [mute]


async def test_a_key_forgotten_while_in_flight_stays_forgotten(backend: Backend) -> None:
    outbox = backend.outbox()
    mute = act(ActionKind.MUTE, "mute:7")
    await outbox.record([mute])
    taken = await outbox.take("w1", 10)
    await outbox.forget(["mute:7"])
    await outbox.settle(taken)
    assert await outbox.record([mute]) == 1


async def test_backlog_counts_new_and_handed_out_entries(backend: Backend) -> None:
    outbox = backend.outbox()
    assert await outbox.backlog() == 0
    await outbox.record([act(ActionKind.DELETE, f"d{i}") for i in range(3)])
    await outbox.record([act(ActionKind.REPORT, "log")])
    assert await outbox.backlog() == 4
    taken = await outbox.take("w1", 2)
    assert await outbox.backlog() == 4
    await outbox.settle(taken)
    assert await outbox.backlog() == 2


async def test_entries_recorded_before_anyone_took_are_read(backend: Backend) -> None:
    outbox = backend.outbox()
    await outbox.record([act(ActionKind.CHECK, "check"), act(ActionKind.REPORT, "log")])
    assert keys(await outbox.take("first", 10)) == ["check", "log"]


async def test_lost_streams_are_recreated_and_work_goes_on(backend: Backend) -> None:
    outbox = backend.outbox()
    await outbox.record([act(ActionKind.DELETE, "del")])
    taken = await outbox.take("w1", 10)
    await backend.lose_streams()
    await outbox.settle(taken)  # its stream and group are gone: nothing to do, no error
    assert await outbox.record([act(ActionKind.DELETE, "del")]) == 0  # its key remains
    assert await outbox.record([act(ActionKind.MUTE, "mute"), act(ActionKind.REPORT, "log")]) == 2
    assert keys(await outbox.take("w1", 10)) == ["mute", "log"]
    await backend.lose_streams()
    assert await outbox.take("w1", 10) == []
    assert await outbox.backlog() == 0


async def test_after_losing_everything_recording_starts_over(backend: Backend) -> None:
    outbox = backend.outbox()
    await outbox.record([act(ActionKind.DELETE, "del")])
    taken = await outbox.take("w1", 10)
    await backend.lose_everything()
    await outbox.settle(taken)
    assert await outbox.record([act(ActionKind.DELETE, "del")]) == 1
    again = await outbox.take("w2", 10)
    assert keys(again) == ["del"]
    await outbox.settle(again)
    assert await outbox.backlog() == 0


async def test_block_zero_does_not_block(backend: Backend) -> None:
    outbox = backend.outbox()
    started = time.monotonic()
    assert await outbox.take("w1", 10, block_ms=0) == []
    assert await outbox.take("w1", 10) == []
    assert time.monotonic() - started < 0.5


async def test_a_blocking_take_waits_and_wakes_on_a_record(backend: Backend) -> None:
    outbox = backend.outbox()
    started = time.monotonic()
    assert await outbox.take("w1", 10, block_ms=50) == []
    assert time.monotonic() - started >= 0.04
    waiting = asyncio.create_task(outbox.take("w1", 10, block_ms=1500))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = time.monotonic()
    await outbox.record([act(ActionKind.REPORT, "log"), act(ActionKind.DELETE, "del")])
    woke = await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - started < 1.0
    assert keys(woke) == ["del", "log"]


async def test_a_blocking_take_is_cut_to_max_block(backend: Backend) -> None:
    outbox = backend.outbox(max_block_ms=100)
    started = time.monotonic()
    assert await outbox.take("w1", 10, block_ms=60_000) == []
    assert time.monotonic() - started < 1.5


async def test_an_unreachable_outbox_raises_cache_unavailable(backend: Backend) -> None:
    outbox = backend.broken()
    with pytest.raises(CacheUnavailable):
        await outbox.record([act(ActionKind.DELETE, "del")])
    with pytest.raises(CacheUnavailable):
        await outbox.take("w1", 10)
    with pytest.raises(CacheUnavailable):
        await outbox.backlog()
    entry = OutboxEntry("0-1-0", act(ActionKind.DELETE, "del"))
    with pytest.raises(CacheUnavailable):
        await outbox.settle([entry])
    with pytest.raises(CacheUnavailable):
        await outbox.forget(["del"])


# --------------------------------------------------------------------------- Redis only

NS = "t:"


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def redis_ns(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Redis, str]]:
    """(client, namespace) on fakeredis or on the real Redis."""
    if request.param == "fakeredis":
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        yield client, NS
        await client.aclose()
    else:
        async with real_redis() as client_and_namespace:
            yield client_and_namespace


async def test_keys_streams_and_ttls(redis_ns: tuple[Redis, str]) -> None:
    client, ns = redis_ns
    outbox = RedisOutbox(client, namespace=ns, key_ttl=3600)
    await outbox.record([act(ActionKind.DELETE, "del", message="10")])
    assert await client.get(f"{ns}act:del") == b"1"
    assert 3590 <= await client.ttl(f"{ns}act:del") <= 3600
    [(entry_id, fields)] = cast(
        list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(f"{ns}outbox:0")
    )
    assert fields == {
        b"kind": b"delete",
        b"chat": str(CHAT).encode(),
        b"key": b"del",
        b"f.message": b"10",
    }
    [taken] = await outbox.take("w1", 10)
    assert taken.entry_id == f"0-{entry_id.decode()}"
    assert [g["name"] for g in await client.xinfo_groups(f"{ns}outbox:0")] == [b"workers"]
    await outbox.settle([taken])
    assert await client.get(f"{ns}act:del") == b"done"
    assert 3590 <= await client.ttl(f"{ns}act:del") <= 3600  # the record's TTL, kept
    assert await client.xlen(f"{ns}outbox:0") == 0
    assert (await client.xpending(f"{ns}outbox:0", "workers"))["pending"] == 0


async def test_a_delayed_record_waits_in_the_later_stream_with_a_longer_key(
    redis_ns: tuple[Redis, str],
) -> None:
    client, ns = redis_ns
    clock = FakeClock()
    outbox = RedisOutbox(client, namespace=ns, key_ttl=3600, clock=clock)
    await outbox.record([Action(ActionKind.EXPEL, CHAT, "expel", {"user": "7"}, delay=600)])
    assert 4190 <= await client.ttl(f"{ns}act:expel") <= 4200  # key_ttl + the delay
    assert await client.xlen(f"{ns}outbox:{int(Priority.MUTE)}") == 0
    [(later_id, fields)] = cast(
        list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(f"{ns}outbox:later")
    )
    assert fields[b"p"] == str(int(Priority.MUTE)).encode()
    assert fields[b"kind"] == b"expel"
    assert await client.zscore(f"{ns}outbox:due", later_id) == (clock() + 600) * 1000


async def test_due_times_follow_the_given_clock(redis_ns: tuple[Redis, str]) -> None:
    """Recording, postponing and taking all read the outbox's clock (Redis' TIME is
    not consulted), so an instance's clock moved on makes the entries due."""
    client, ns = redis_ns
    clock = FakeClock()
    outbox = RedisOutbox(client, namespace=ns, clock=clock)
    await outbox.record(
        [
            Action(ActionKind.EXPEL, CHAT, "expel", {"user": "7"}, delay=600),
            act(ActionKind.MUTE, "mute", user="8"),
        ]
    )
    [mute] = await outbox.take("w1", 10)
    assert await outbox.postpone([mute], 30) == 1
    clock.advance(29)
    assert await outbox.take("w1", 10) == []
    clock.advance(2)
    assert keys(await outbox.take("w1", 10)) == ["mute"]
    clock.advance(568)  # 599 s after the record
    assert keys(await outbox.take("w1", 10)) == []
    clock.advance(2)
    assert keys(await outbox.take("w2", 10)) == ["expel"]


async def test_a_blocking_read_past_count_leaves_the_rest_to_others(
    redis_ns: tuple[Redis, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blocking read over several streams may return `count` from each: what is past
    `count` is made claimable at once, not held for claim_after by this consumer."""
    client, ns = redis_ns
    outbox = RedisOutbox(client, namespace=ns)
    await outbox.take("w1", 1)  # creates the groups
    await outbox.record([act(ActionKind.DELETE, f"del{i}") for i in range(2)])
    await outbox.record([act(ActionKind.REPORT, f"log{i}") for i in range(2)])
    await client.set(f"{ns}act:del1", "done", keepttl=True)
    real_take = outbox._take

    async def first_finds_nothing(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(outbox, "_take", real_take)
        return []

    monkeypatch.setattr(outbox, "_take", first_finds_nothing)
    # The read returns all four at once; del1 is done, log1 is one past count.
    assert keys(await outbox.take("w1", 2, block_ms=1000)) == ["del0", "log0"]
    assert await outbox.backlog() == 3  # del1 was settled
    other = await outbox.take("w2", 10)  # long before claim_after
    assert keys(other) == ["log1"]
    assert other[0].deliveries == 1


async def test_an_entry_no_one_can_read_is_dropped(redis_ns: tuple[Redis, str]) -> None:
    client, ns = redis_ns
    outbox = RedisOutbox(client, namespace=ns)
    await client.xadd(f"{ns}outbox:1", {"kind": "exploded", "chat": "1", "key": "x"})
    await client.xadd(f"{ns}outbox:1", {"something": "else"})
    await outbox.record([act(ActionKind.MUTE, "mute")])
    assert keys(await outbox.take("w1", 10)) == ["mute"]
    assert await outbox.backlog() == 1


async def test_a_group_lost_under_a_live_stream_is_recreated(redis_ns: tuple[Redis, str]) -> None:
    client, ns = redis_ns
    outbox = RedisOutbox(client, namespace=ns)
    await outbox.record([act(ActionKind.CHECK, "check")])
    await outbox.take("w1", 10)
    await client.xgroup_destroy(f"{ns}outbox:2", "workers")
    await outbox.record([act(ActionKind.CHECK, "check2")])
    # From id 0: the entry handed out before is pending no more, so it comes again.
    assert keys(await outbox.take("w2", 10)) == ["check", "check2"]


# --------------------------------------------------------------------------- round trips


@pytest.fixture
def trips() -> list[list[str]]:
    return []


@pytest.fixture
async def spied(trips: list[list[str]]) -> AsyncIterator[Redis]:
    connection_class = logging_connection(fakeredis.FakeAsyncRedisConnection, trips)
    client = fakeredis.FakeAsyncRedis(
        server=fakeredis.FakeServer(), connection_class=connection_class
    )
    yield client
    await client.aclose()


async def warmed(spied: Redis) -> RedisOutbox:
    """An outbox whose scripts are loaded (the first call of each also loads it)."""
    outbox = RedisOutbox(spied, namespace=NS)
    await outbox.record([act(ActionKind.REPORT, "warm")])
    warm = await outbox.take("w0", 10)
    await outbox.settle(warm)
    return outbox


async def test_record_of_five_actions_is_one_round_trip(
    spied: Redis, trips: list[list[str]]
) -> None:
    outbox = await warmed(spied)
    trips.clear()
    assert (
        await outbox.record([act(ActionKind.DELETE, f"d{i}", message=str(i)) for i in range(5)])
        == 5
    )
    assert trips == [["EVALSHA"]]


async def test_take_and_settle_of_many_entries_are_one_round_trip_each(
    spied: Redis, trips: list[list[str]]
) -> None:
    outbox = await warmed(spied)
    kinds: list[Callable[[int], Action]] = [
        lambda i: act(ActionKind.DELETE, f"d{i}"),
        lambda i: act(ActionKind.REPORT, f"r{i}", text="x"),
    ]
    await outbox.record([kinds[i % 2](i) for i in range(40)])
    trips.clear()
    taken = await outbox.take("w1", 40)
    assert len(taken) == 40
    assert trips == [["EVALSHA"]]
    trips.clear()
    await outbox.settle(taken)
    assert trips == [["EVALSHA"]]
    trips.clear()
    assert await outbox.backlog() == 0
    assert trips == [["XLEN"] * 6]  # the five priorities and the postponed ones
