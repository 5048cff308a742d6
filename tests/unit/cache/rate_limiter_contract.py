"""RedisRateLimiter's buckets, reserves and holds, as one contract run on fakeredis
(tests/unit/cache) and on a real Redis (tests/integration/cache).

Time is a test clock handed to the limiter (in production the Redis server's clock),
so a minute of traffic takes no time. Subclasses provide `redis` and `namespace`.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gmbot.cache.rate_limiter import RateLimits, RedisRateLimiter
from gmbot.domain.actions import Priority

GROUP, PRIVATE = "chat:-1001", "chat:42"
# Small buckets keep the arithmetic visible: 4 writes, refilled at 2 a second.
SMALL = RateLimits(writes_burst=4, writes_per_second=2.0, reads_burst=10, reads_per_second=10.0)


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def granted(limiter: RedisRateLimiter, limits: list[str], priority: Priority) -> int:
    """How many calls in a row are granted right now (stops at the first refusal)."""
    count = 0
    while await limiter.acquire(limits, priority) == 0:
        count += 1
        assert count < 1000
    return count


class RateLimiterContract:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def limiter(self, redis: Redis, namespace: str, clock: ManualClock) -> RedisRateLimiter:
        return RedisRateLimiter(redis, SMALL, namespace=namespace, clock=clock)

    async def test_a_bucket_grants_its_burst_then_refills_at_its_rate(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        assert await granted(limiter, ["writes"], Priority.DELETE) == 4
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(0.5)
        clock.advance(0.25)
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(0.25)
        clock.advance(0.25)
        assert await granted(limiter, ["writes"], Priority.DELETE) == 1
        clock.advance(60)  # idle: full again, never more than full
        assert await granted(limiter, ["writes"], Priority.DELETE) == 4

    async def test_every_limit_or_none(self, limiter: RedisRateLimiter, clock: ManualClock) -> None:
        # The group's 10 messages are spent; the writes bucket still has 4 tokens.
        for _ in range(10):
            assert await limiter.acquire([GROUP], Priority.DELETE) == 0
        wait = await limiter.acquire(["writes", GROUP], Priority.DELETE)
        assert wait == pytest.approx(6.0)  # one message in a group per 6 s (10 a minute)
        assert await granted(limiter, ["writes"], Priority.DELETE) == 4  # none were taken
        clock.advance(6)
        # Now the group has one, the writes bucket three: the pair goes through once.
        assert await granted(limiter, ["writes", GROUP], Priority.DELETE) == 1

    async def test_lower_priorities_leave_a_reserve(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        # Reports leave half of the 4 tokens, prompts a quarter, checks a tenth.
        assert await granted(limiter, ["writes"], Priority.LOG) == 2
        assert await granted(limiter, ["writes"], Priority.PROMPT) == 1
        assert await limiter.acquire(["writes"], Priority.CHECK) > 0
        # At the same level a deletion is granted while the prompt is refused.
        assert await limiter.acquire(["writes"], Priority.DELETE) == 0
        assert await limiter.acquire(["writes"], Priority.DELETE) > 0
        # Empty bucket: a prompt waits for 2 tokens (one to take, a quarter of 4 kept),
        # a report for 3, at 2 a second.
        assert await limiter.acquire(["writes"], Priority.PROMPT) == pytest.approx(1.0)
        assert await limiter.acquire(["writes"], Priority.LOG) == pytest.approx(1.5)

    async def test_a_full_bucket_grants_any_priority(self, redis: Redis, namespace: str) -> None:
        tiny = RateLimits(writes_burst=1, writes_per_second=1.0)
        limiter = RedisRateLimiter(redis, tiny, namespace=namespace, clock=ManualClock())
        assert await limiter.acquire(["writes"], Priority.LOG) == 0
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(1.0)

    async def test_a_chat_bucket_keeps_no_reserve(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        # Only prompts, notices and reports post messages: each may use the chat's
        # whole burst, and a reserve would only hold them back after a 429.
        assert await granted(limiter, [GROUP], Priority.LOG) == RateLimits().group_burst

    async def test_a_hold_is_never_shortened(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        await limiter.hold("writes", 5)
        await limiter.hold("writes", 1)  # another instance's shorter retry_after
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(5.0)
        await limiter.hold("writes", 8)  # a longer one wins
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(8.0)
        clock.advance(7.5)
        assert await limiter.acquire(["writes"], Priority.DELETE) == pytest.approx(0.5)

    async def test_a_hold_ends_by_itself_and_empties_the_bucket(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        await limiter.hold("writes", 1)
        clock.advance(1)
        # The bucket was emptied when Telegram said 429; a second refilled 2 tokens.
        assert await granted(limiter, ["writes"], Priority.DELETE) == 2

    async def test_a_hold_affects_only_its_limit(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        await limiter.hold(GROUP, 30)
        assert await limiter.acquire(["writes", GROUP], Priority.DELETE) == pytest.approx(30)
        assert await limiter.acquire(["writes", "chat:-1002"], Priority.PROMPT) == 0
        assert await limiter.acquire(["writes"], Priority.DELETE) == 0

    async def test_the_wait_is_the_longest_of_the_limits(
        self, limiter: RedisRateLimiter, clock: ManualClock
    ) -> None:
        assert await granted(limiter, ["writes"], Priority.DELETE) == 4
        assert await limiter.acquire(["writes", GROUP], Priority.DELETE) == pytest.approx(0.5)
        await limiter.hold("writes", 3)
        assert await limiter.acquire(["writes", GROUP], Priority.DELETE) == pytest.approx(3.0)
        clock.advance(3)
        assert await limiter.acquire(["writes", GROUP], Priority.DELETE) == 0
        # A held group starts again from an empty bucket: one message per 6 s.
        await limiter.hold(GROUP, 3)
        assert await limiter.acquire(["writes", GROUP], Priority.DELETE) == pytest.approx(6.0)

    async def test_a_group_never_gets_more_than_20_messages_a_minute(
        self, redis: Redis, namespace: str, clock: ManualClock
    ) -> None:
        limiter = RedisRateLimiter(redis, RateLimits(), namespace=namespace, clock=clock)
        sent: list[float] = []
        start = clock.now
        while clock.now - start < 180:  # three minutes of someone always wanting to post
            if await limiter.acquire([GROUP], Priority.DELETE) == 0:
                sent.append(clock.now)
            else:
                clock.advance(0.1)
        for first in sent:
            assert sum(first <= t <= first + 60 for t in sent) <= 20
        assert len(sent) >= 10 + 29  # the burst, then one every 6 s

    async def test_a_private_chat_gets_a_short_burst_then_one_a_second(
        self, redis: Redis, namespace: str, clock: ManualClock
    ) -> None:
        limiter = RedisRateLimiter(redis, RateLimits(), namespace=namespace, clock=clock)
        assert await granted(limiter, [PRIVATE], Priority.DELETE) == 3
        assert await limiter.acquire([PRIVATE], Priority.DELETE) == pytest.approx(1.0)

    async def test_keys_live_under_the_namespace_and_expire(
        self, redis: Redis, namespace: str, limiter: RedisRateLimiter
    ) -> None:
        assert await limiter.acquire(["writes", GROUP], Priority.PROMPT) == 0
        await limiter.hold("reads", 2)
        # A bucket's key lasts until it would be full again (plus a second's margin).
        ttl = await redis.pttl(f"{namespace}rate:{GROUP}")
        assert 6000 < ttl <= 7000
        assert 0 < await redis.pttl(f"{namespace}rate:writes") <= 1500
        assert 0 < await redis.pttl(f"{namespace}rate_hold:reads") <= 2000
        assert 0 < await redis.pttl(f"{namespace}rate:reads") <= 2000  # emptied: 10 x 0.1 s

    async def test_a_hold_expires_in_redis(self, redis: Redis, namespace: str) -> None:
        limiter = RedisRateLimiter(redis, SMALL, namespace=namespace)  # the server's clock
        await limiter.hold("reads", 0.05)
        wait = await limiter.acquire(["reads"], Priority.DELETE)
        assert 0 < wait <= 0.1 + 1e-6
        await asyncio.sleep(0.15)
        assert not await redis.exists(f"{namespace}rate_hold:reads")
        assert await limiter.acquire(["reads"], Priority.DELETE) == 0
