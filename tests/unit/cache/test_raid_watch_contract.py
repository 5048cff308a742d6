"""The RaidWatch contract, run on the in-memory fake, on RedisRaidWatch over fakeredis
(Lua through lupa) and, marked `redis`, on a real Redis.

Fixtures each run provides:
- `make_watch()`: another instance on the same shared state (its own Redis client),
  as another bot instance would be;
- `start`: a base time for the `now` arguments, on the clock the methods without one
  read (the fake's FakeClock, the Redis server's TIME);
- `elapse(seconds)`: let that clock move on (claims and prompt ttls lapse).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import fakeredis
import pytest
from redis.asyncio import Redis

from gmbot.cache.raid_watch import RedisRaidWatch
from gmbot.domain.ports import EndedRaid, RaidPhase, RaidSignal, RaidWatch
from tests.fakes.clock import FakeClock
from tests.fakes.raid_watch import InMemoryRaidWatch

CHAT, OTHER_CHAT = -1001, -1002
NOTICE = 900
WINDOW, EDIT_EVERY = 60.0, 3.0

MakeWatch = Callable[[], RaidWatch]
Elapse = Callable[[float], Awaitable[None]]

CALM, STARTED, ONGOING = RaidPhase.CALM, RaidPhase.STARTED, RaidPhase.ONGOING


async def gate(
    watch: RaidWatch,
    user: int,
    now: float,
    *,
    chat: int = CHAT,
    threshold: int = 1,
    window: float = WINDOW,
) -> RaidSignal:
    return await watch.gated(
        chat, user, now, threshold=threshold, window=window, edit_every=EDIT_EVERY
    )


class RaidWatchContract:
    @pytest.fixture
    def watch(self, make_watch: MakeWatch) -> RaidWatch:
        return make_watch()

    # ------------------------------------------------------------------ starting

    async def test_threshold_starts_exactly_one_raid_under_concurrent_callers(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float
    ) -> None:
        instances = [make_watch() for _ in range(8)]
        signals = await asyncio.gather(
            *(gate(instances[u % 8], u, start, threshold=5) for u in range(1, 51))
        )
        assert Counter(s.phase for s in signals) == {CALM: 4, STARTED: 1, ONGOING: 45}
        assert [s for s in signals if s.phase is STARTED] == [RaidSignal(STARTED, 5)]
        assert sorted(s.gated for s in signals if s.phase is CALM) == [1, 2, 3, 4]
        assert sorted(s.gated for s in signals if s.phase is ONGOING) == list(range(6, 51))
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 50)

    async def test_threshold_zero_never_starts(self, watch: RaidWatch, start: float) -> None:
        signals = [await gate(watch, u, start + u, threshold=0) for u in range(1, 31)]
        assert signals == [RaidSignal(CALM, u) for u in range(1, 31)]
        assert await watch.active(CHAT) is None

    async def test_threshold_one_starts_at_the_first(self, watch: RaidWatch, start: float) -> None:
        assert await watch.active(CHAT) is None
        assert await gate(watch, 1, start, threshold=1) == RaidSignal(STARTED, 1)
        assert await gate(watch, 1, start + 1, threshold=1) == RaidSignal(ONGOING, 1)
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 1)
        assert await watch.active(OTHER_CHAT) is None  # per group

    async def test_members_gated_before_the_window_do_not_count(
        self, watch: RaidWatch, start: float
    ) -> None:
        assert await gate(watch, 1, start, threshold=3) == RaidSignal(CALM, 1)
        assert await gate(watch, 2, start + 30, threshold=3) == RaidSignal(CALM, 2)
        assert await gate(watch, 3, start + 61, threshold=3) == RaidSignal(CALM, 2)  # 1 is out
        assert await gate(watch, 1, start + 70, threshold=3) == RaidSignal(STARTED, 3)

    async def test_a_late_clock_does_not_move_a_member_back(
        self, watch: RaidWatch, start: float
    ) -> None:
        await gate(watch, 1, start + 50, threshold=2)
        await gate(watch, 1, start, threshold=2)  # an instance whose clock is behind
        assert await gate(watch, 2, start + 100, threshold=2) == RaidSignal(STARTED, 2)

    async def test_each_member_counts_once_in_the_window_and_in_the_raid(
        self, watch: RaidWatch, start: float
    ) -> None:
        for t in range(5):
            assert await gate(watch, 1, start + t, threshold=3) == RaidSignal(CALM, 1)
        assert await gate(watch, 2, start + 5, threshold=3) == RaidSignal(CALM, 2)
        assert await gate(watch, 3, start + 6, threshold=3) == RaidSignal(STARTED, 3)
        for user in (1, 2, 3, 1):  # the window's members were counted at the start
            assert (await gate(watch, user, start + 7, threshold=3)).gated == 3
        assert (await gate(watch, 4, start + 8, threshold=3)).gated == 4
        assert (await gate(watch, 4, start + 9, threshold=3)).gated == 4
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 4)

    async def test_groups_are_counted_apart(self, watch: RaidWatch, start: float) -> None:
        assert await gate(watch, 1, start, threshold=2) == RaidSignal(CALM, 1)
        assert await gate(watch, 2, start, threshold=2, chat=OTHER_CHAT) == RaidSignal(CALM, 1)
        assert await gate(watch, 2, start, threshold=2) == RaidSignal(STARTED, 2)
        assert await watch.active(OTHER_CHAT) is None

    # ------------------------------------------------------------------ refreshing

    async def test_edit_due_once_per_period_only_when_changed_and_posted(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float
    ) -> None:
        await gate(watch, 1, start)
        # No notice yet: nothing to edit, whoever calls.
        assert await gate(watch, 2, start + 10) == RaidSignal(ONGOING, 2)
        assert await watch.claim_notice(CHAT, 30)
        assert await watch.notice_posted(CHAT, NOTICE, 2)  # stamps the refresh
        # Changed, but the notice was just posted.
        assert await gate(watch, 3, start + 1) == RaidSignal(ONGOING, 3, NOTICE, False)
        # Any caller may get the refresh, even one not adding to the count.
        assert await gate(watch, 1, start + 4) == RaidSignal(ONGOING, 3, NOTICE, True)
        assert await gate(watch, 4, start + 5) == RaidSignal(ONGOING, 4, NOTICE, False)
        assert await gate(watch, 5, start + 7.5) == RaidSignal(ONGOING, 5, NOTICE, True)
        await watch.notice_shown(CHAT, 5)
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 5, NOTICE)
        # The notice shows the count: no refresh, however long since the last.
        assert await gate(watch, 5, start + 20) == RaidSignal(ONGOING, 5, NOTICE, False)

        instances = [make_watch() for _ in range(5)]
        signals = await asyncio.gather(
            *(gate(instances[u % 5], u, start + 30) for u in range(100, 120))
        )
        assert sum(s.edit_due for s in signals) == 1
        assert {s.notice_id for s in signals} == {NOTICE}

    # ------------------------------------------------------------------ prompts

    async def test_prompts_shown_before_the_raid_go_to_its_starter(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float, elapse: Elapse
    ) -> None:
        for user, prompt in ((1, 11), (2, 12), (3, 13)):
            assert await watch.prompt_reserve(CHAT, user, 60)
            assert await watch.prompt_shown(CHAT, user, prompt, 60)
        assert await watch.prompt_shown(CHAT, 4, 14, 0.2)  # deleted by its ttl meanwhile
        assert await watch.prompt_shown(OTHER_CHAT, 9, 21, 60)
        await elapse(0.4)
        assert await gate(watch, 1, start + 1) == RaidSignal(STARTED, 1)
        assert not await watch.prompt_reserve(CHAT, 5, 60)  # no prompt in a raid
        assert not await watch.prompt_shown(CHAT, 5, 15, 60)  # the notice replaces it
        starter = make_watch()
        shown, pending = await starter.take_prompts(CHAT)
        assert (sorted(shown), pending) == ([(1, 11), (2, 12), (3, 13)], 0)
        assert await watch.take_prompts(CHAT) == ([], 0)
        assert await watch.take_prompts(OTHER_CHAT) == ([(9, 21)], 0)  # per group

    async def test_prompts_on_their_way_are_counted_until_shown_or_dropped(
        self, watch: RaidWatch, start: float
    ) -> None:
        assert await watch.prompt_reserve(CHAT, 1, 60)
        assert await watch.prompt_reserve(CHAT, 2, 60)
        assert await watch.prompt_shown(CHAT, 3, 13, 60)
        assert await gate(watch, 7, start) == RaidSignal(STARTED, 1)
        assert await watch.take_prompts(CHAT) == ([(3, 13)], 2)
        # Sent after the start: refused (its sender removes it), and no longer on its way.
        assert not await watch.prompt_shown(CHAT, 1, 11, 60)
        assert await watch.take_prompts(CHAT) == ([], 1)
        await watch.prompt_dropped(CHAT, 2)
        assert await watch.take_prompts(CHAT) == ([], 0)

    async def test_a_reservation_whose_poster_died_lapses(
        self, watch: RaidWatch, start: float, elapse: Elapse
    ) -> None:
        assert await watch.prompt_reserve(CHAT, 1, 0.2)
        assert await watch.take_prompts(CHAT) == ([], 1)
        await elapse(0.4)
        assert await watch.take_prompts(CHAT) == ([], 0)

    async def test_every_prompt_is_either_taken_or_refused_around_the_start(
        self, make_watch: MakeWatch, start: float
    ) -> None:
        instances = [make_watch() for _ in range(6)]
        calls: list[Awaitable[object]] = [
            instances[p % 6].prompt_shown(CHAT, p, 100 + p, 60) for p in range(1, 41)
        ]
        calls.insert(20, gate(instances[0], 1, start))  # the raid starts midway
        results = await asyncio.gather(*calls)
        del results[20]
        taken, pending = await instances[1].take_prompts(CHAT)
        registered = [(p, 100 + p) for p, ok in zip(range(1, 41), results, strict=True) if ok]
        # A prompt registered after take_prompts would be left on screen: none may be.
        assert not await instances[2].prompt_shown(CHAT, 99, 199, 60)
        assert sorted(taken) == registered
        assert pending == 0

    # ------------------------------------------------------------------ the notice

    async def test_one_instance_at_a_time_claims_the_notice(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float, elapse: Elapse
    ) -> None:
        assert not await watch.claim_notice(CHAT, 30)  # no raid
        await gate(watch, 1, start)
        instances = [make_watch() for _ in range(10)]
        claims = await asyncio.gather(*(w.claim_notice(CHAT, 0.2) for w in instances))
        assert sorted(claims) == [False] * 9 + [True]
        await elapse(0.4)
        assert await watch.claim_notice(CHAT, 30)  # the first claim lapsed
        assert not await watch.claim_notice(CHAT, 30)
        await watch.release_notice(CHAT)  # posting failed: the next may try at once
        assert await watch.claim_notice(CHAT, 30)
        assert await watch.notice_posted(CHAT, NOTICE, 1)
        assert not await watch.claim_notice(CHAT, 30)  # posted
        await watch.release_notice(CHAT)
        assert not await watch.claim_notice(CHAT, 30)
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 1, NOTICE)

    async def test_a_second_notice_is_refused(self, watch: RaidWatch, start: float) -> None:
        await gate(watch, 1, start)
        assert await watch.notice_posted(CHAT, NOTICE, 1)
        assert not await watch.notice_posted(CHAT, NOTICE + 1, 1)  # its poster removes it
        assert await watch.notice_posted(CHAT, NOTICE, 1)  # the same one again is fine
        assert await watch.active(CHAT) == RaidSignal(ONGOING, 1, NOTICE)

    async def test_a_notice_posted_after_the_end_is_refused(
        self, watch: RaidWatch, start: float
    ) -> None:
        await gate(watch, 1, start)
        assert await watch.claim_notice(CHAT, 30)
        assert len(await watch.end_calm(start + 61, 60)) == 1
        assert not await watch.notice_posted(CHAT, NOTICE, 1)
        await watch.notice_shown(CHAT, 1)
        await watch.release_notice(CHAT)
        # None of that brought the raid back.
        assert await watch.active(CHAT) is None
        assert not await watch.claim_notice(CHAT, 30)
        assert await gate(watch, 1, start + 62, threshold=2) == RaidSignal(CALM, 1)

    # ------------------------------------------------------------------ the sweep

    async def test_raids_whose_notice_is_missing_are_listed_until_it_is_posted(
        self, watch: RaidWatch, start: float
    ) -> None:
        assert await watch.without_notice() == []
        await gate(watch, 1, start)
        await gate(watch, 2, start + 1)
        await gate(watch, 7, start, chat=OTHER_CHAT)
        assert sorted(await watch.without_notice()) == sorted([(CHAT, 2), (OTHER_CHAT, 1)])
        assert await watch.notice_posted(CHAT, NOTICE, 2)
        assert await watch.without_notice() == [(OTHER_CHAT, 1)]
        await watch.end_calm(start + 100, 60)
        assert await watch.without_notice() == []

    async def test_stale_notices_are_claimed_once(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float
    ) -> None:
        chat_b, chat_c = -2001, -2002
        await gate(watch, 1, start)
        await watch.notice_posted(CHAT, NOTICE, 1)
        await gate(watch, 2, start + 1)
        await gate(watch, 3, start + 1)  # now 3, shown 1
        await gate(watch, 1, start, chat=chat_b)
        await gate(watch, 2, start + 1, chat=chat_b)  # changed, but no notice
        await gate(watch, 1, start, chat=chat_c)
        await watch.notice_posted(chat_c, NOTICE + 1, 1)  # shows its count
        assert await watch.stale_notices(start + 2, EDIT_EVERY) == []  # just posted

        instances = [make_watch() for _ in range(6)]
        batches = await asyncio.gather(*(w.stale_notices(start + 5, EDIT_EVERY) for w in instances))
        assert [item for batch in batches for item in batch] == [(CHAT, NOTICE, 3)]
        assert await watch.stale_notices(start + 6, EDIT_EVERY) == []
        # The sweep's claim holds off the members' refresh too.
        assert await gate(watch, 4, start + 6.5) == RaidSignal(ONGOING, 4, NOTICE, False)
        assert await watch.stale_notices(start + 8.5, EDIT_EVERY) == [(CHAT, NOTICE, 4)]
        await watch.notice_shown(CHAT, 4)
        assert await watch.stale_notices(start + 20, EDIT_EVERY) == []

    async def test_end_calm_hands_each_raid_to_one_caller_and_resets_it(
        self, watch: RaidWatch, make_watch: MakeWatch, start: float
    ) -> None:
        chats = [-3000 - i for i in range(10)]
        for i, chat in enumerate(chats):
            await gate(watch, 1, start + i, chat=chat)
            await gate(watch, 2, start + i, chat=chat)
        await watch.notice_posted(chats[0], NOTICE, 2)
        await gate(watch, 3, start + 50, chat=chats[9])  # still gating members
        assert await watch.end_calm(start + 30, 60) == []

        instances = [make_watch() for _ in range(8)]
        batches = await asyncio.gather(*(w.end_calm(start + 70, 60) for w in instances))
        ended = sorted((raid for batch in batches for raid in batch), key=lambda r: r.chat_id)
        expected = [
            EndedRaid(chat, start + i, 2, NOTICE if i == 0 else None)
            for i, chat in enumerate(chats[:9])
        ]
        assert ended == sorted(expected, key=lambda r: r.chat_id)
        assert await watch.end_calm(start + 70, 60) == []

        assert await watch.active(chats[0]) is None
        assert await watch.active(chats[9]) == RaidSignal(ONGOING, 3)
        # A new raid starts from scratch: nobody from the last one is in the window.
        assert await gate(watch, 1, start + 71, chat=chats[0], threshold=2) == RaidSignal(CALM, 1)
        assert await gate(watch, 4, start + 72, chat=chats[0], threshold=2) == RaidSignal(
            STARTED, 2
        )
        assert await watch.active(chats[0]) == RaidSignal(ONGOING, 2)
        assert [r.chat_id for r in await watch.end_calm(start + 111, 60)] == [chats[9]]


# --------------------------------------------------------------------------- the fake


class TestInMemoryRaidWatch(RaidWatchContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_watch(self, clock: FakeClock) -> MakeWatch:
        shared = InMemoryRaidWatch(clock)
        return lambda: shared

    @pytest.fixture
    def start(self, clock: FakeClock) -> float:
        return clock()

    @pytest.fixture
    def elapse(self, clock: FakeClock) -> Elapse:
        async def elapse(seconds: float) -> None:
            clock.advance(seconds)

        return elapse


# --------------------------------------------------------------------------- Redis


class RedisRaidWatchChecks(RaidWatchContract):
    """The contract plus the adapter's own keys. Subclasses provide `clients`: a
    factory of Redis clients on one server, closed by the subclass."""

    @pytest.fixture
    def namespace(self) -> str:
        return f"gmbot-test-{uuid.uuid4().hex[:12]}:"

    @pytest.fixture
    def client(self, clients: Callable[[], Redis]) -> Redis:
        return clients()

    @pytest.fixture
    def make_watch(self, clients: Callable[[], Redis], namespace: str) -> MakeWatch:
        return lambda: RedisRaidWatch(clients(), namespace=namespace)

    @pytest.fixture
    async def start(self, client: Redis) -> float:
        seconds, micros = await client.time()
        return seconds + micros / 1e6

    @pytest.fixture
    def elapse(self) -> Elapse:
        return asyncio.sleep

    async def keys(self, client: Redis, namespace: str) -> set[str]:
        return {k.decode() async for k in client.scan_iter(match=f"{namespace}*")}

    async def test_the_window_expires_and_an_ended_raid_leaves_no_key(
        self, watch: RaidWatch, client: Redis, namespace: str, start: float
    ) -> None:
        await gate(watch, 1, start, threshold=2)
        seen = f"{namespace}raid:seen:{CHAT}"
        assert 2 * WINDOW * 1000 - 1000 <= await client.pttl(seen) <= 2 * WINDOW * 1000
        await watch.prompt_shown(CHAT, 1, 11, 60)
        assert 59_000 <= await client.pttl(f"{namespace}raid:prompts:{CHAT}") <= 60_000
        await watch.prompt_shown(CHAT, 2, 12, 10)  # a shorter ttl keeps the longer expiry
        assert 59_000 <= await client.pttl(f"{namespace}raid:prompts:{CHAT}") <= 60_000
        await gate(watch, 2, start, threshold=2)
        await watch.notice_posted(CHAT, NOTICE, 2)
        assert await self.keys(client, namespace) == {
            f"{namespace}raid:{CHAT}",
            f"{namespace}raid:members:{CHAT}",
            f"{namespace}raid:prompts:{CHAT}",
            f"{namespace}raids",
        }
        assert len(await watch.end_calm(start + 61, 60)) == 1
        assert await self.keys(client, namespace) == set()

    async def test_a_raid_starts_with_more_members_than_lua_can_unpack(
        self, watch: RaidWatch, client: Redis, namespace: str, start: float
    ) -> None:
        await client.zadd(f"{namespace}raid:seen:{CHAT}", {str(u): start for u in range(9000)})
        signal = await gate(watch, 9000, start, threshold=9001)
        assert signal == RaidSignal(STARTED, 9001)
        assert await client.scard(f"{namespace}raid:members:{CHAT}") == 9001
        assert (await gate(watch, 5, start)).gated == 9001


class TestFakeRedisRaidWatch(RedisRaidWatchChecks):
    @pytest.fixture
    async def clients(self, server: fakeredis.FakeServer) -> AsyncIterator[Callable[[], Redis]]:
        opened: list[Redis] = []

        def connect() -> Redis:
            opened.append(fakeredis.FakeAsyncRedis(server=server))
            return opened[-1]

        yield connect
        for client in opened:
            await client.aclose()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="module")
def redis_url() -> str:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 0.5).close()
    except OSError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.mark.redis
class TestRealRedisRaidWatch(RedisRaidWatchChecks):
    @pytest.fixture
    async def clients(self, redis_url: str, namespace: str) -> AsyncIterator[Callable[[], Redis]]:
        opened: list[Redis] = []

        def connect() -> Redis:
            opened.append(Redis.from_url(redis_url))
            return opened[-1]

        yield connect
        cleaner = connect()
        keys = [key async for key in cleaner.scan_iter(match=f"{namespace}*", count=1000)]
        if keys:
            await cleaner.delete(*keys)
        for client in opened:
            await client.aclose()
