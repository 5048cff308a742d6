"""AiogramGateway at Telegram's flood limits: the limits each call waits on, 429 holds
shared through the fleet-wide limiter, spread-out waiters, and a limiter that is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import fakeredis
import pytest
from aiogram import Bot
from aiogram.methods.base import TelegramMethod, TelegramType
from structlog.testing import capture_logs

from gmbot.cache.rate_limiter import RateLimits, RedisRateLimiter
from gmbot.domain.actions import Priority, acting_as
from gmbot.domain.ports import RateLimiter
from gmbot.domain.telegram import RetryLater
from gmbot.metrics import Metrics
from gmbot.telegram.budget import budget
from gmbot.telegram.flood import JITTER, JITTER_FLOOR, spread
from gmbot.telegram.gateway import AiogramGateway
from tests.fakes.telegram import FakeSession, TelegramWorld

A, B, USER = -1001, -1002, 5


class TimedSession(FakeSession):
    """A FakeSession that also notes when each request reached "Telegram"."""

    def __init__(self, world: TelegramWorld | None = None) -> None:
        super().__init__(world)
        self.times: list[tuple[str, Any, float]] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        name = method.__api_method__
        self.times.append((name, getattr(method, "chat_id", None), time.monotonic()))
        return await super().make_request(bot, method, timeout)

    def at(self, method: str, chat_id: int | None = None) -> list[float]:
        return [t for m, c, t in self.times if m == method and chat_id in (None, c)]


def world() -> TelegramWorld:
    w = TelegramWorld()
    w.user(USER, "Member")
    for chat_id in (A, B):
        w.chat(chat_id, "supergroup", f"Group {chat_id}")
        w.set_status(chat_id, w.bot_id, "administrator", can_delete_messages=True)
        w.set_status(chat_id, USER, "member")
    return w


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


# Groups refill within a second here, so a hold, not the refill, decides when a prompt
# goes (with Telegram's 10 a minute, an emptied group bucket keeps a prompt back 21 s).
QUICK_GROUPS = RateLimits(group_messages_per_minute=600.0)


def limiter_on(server: fakeredis.FakeServer) -> RedisRateLimiter:
    redis = fakeredis.FakeAsyncRedis(server=server)
    return RedisRateLimiter(redis, QUICK_GROUPS, namespace="t:")


def gateway(session: FakeSession, limiter: RateLimiter | None, **kwargs: Any) -> AiogramGateway:
    bot = Bot(f"{session.world.bot_id}:T", session=session)
    return AiogramGateway(bot, Metrics("t"), limiter, retry_base=0.01, **kwargs)


class RecordingLimiter(RateLimiter):
    """Grants everything and notes who asked for what."""

    def __init__(self) -> None:
        self.asked: list[tuple[tuple[str, ...], Priority]] = []
        self.held: list[tuple[str, float]] = []

    async def acquire(self, limits: Sequence[str], priority: Priority) -> float:
        self.asked.append((tuple(limits), priority))
        return 0.0

    async def hold(self, limit: str, seconds: float) -> None:
        self.held.append((limit, seconds))


async def test_each_call_waits_on_its_limits_with_the_current_priority() -> None:
    session, limiter = FakeSession(world()), RecordingLimiter()
    gw = gateway(session, limiter)
    theirs = int(session.world.add_message(A, USER, "spam")["message_id"])
    await gw.send_message(A, "prompt")
    with acting_as(Priority.DELETE):
        await gw.delete_messages(A, [theirs])
    with acting_as(Priority.CHECK):
        await gw.get_member(A, USER)
    with acting_as(Priority.MUTE):
        await gw.restrict(A, USER, {})
    assert limiter.asked == [
        (("writes", f"chat:{A}"), Priority.PROMPT),  # a prompt unless told otherwise
        (("writes",), Priority.DELETE),
        (("reads",), Priority.CHECK),
        (("writes",), Priority.MUTE),
    ]
    limiter.asked.clear()
    await gw.get_me()
    await gw.answer_callback("q")
    await gw.create_invite_link(A)
    assert limiter.asked == []  # no bulk traffic: not limited


@pytest.mark.parametrize(
    ("method", "held"),
    [("sendMessage", f"chat:{A}"), ("deleteMessage", "writes"), ("getChat", "reads")],
)
async def test_a_429_holds_the_most_specific_limit_of_the_call(method: str, held: str) -> None:
    session, limiter = FakeSession(world()), RecordingLimiter()
    gw = gateway(session, limiter)
    mine = await gw.send_message(A, "prompt")
    session.stage(method, 429, "Too Many Requests: retry after 7", retry_after=7)
    calls = {
        "sendMessage": lambda: gw.send_message(A, "again"),
        "deleteMessage": lambda: gw.delete_message(A, mine),
        "getChat": lambda: gw.get_chat(A),
    }
    await calls[method]()  # the limiter holds the retry back; this one grants at once
    assert limiter.held == [(held, 7.0)]
    assert len(session.called(method)) == 2 + (method == "sendMessage")


async def test_a_429_in_one_chat_delays_neither_deletions_there_nor_other_chats(
    server: fakeredis.FakeServer,
) -> None:
    session = TimedSession(world())
    gw = gateway(session, limiter_on(server))
    theirs = int(session.world.add_message(A, USER, "spam")["message_id"])
    session.stage("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    prompt = asyncio.create_task(gw.send_message(A, "prompt"))
    await asyncio.sleep(0.1)  # refused, and chat A is held for a second
    started = time.monotonic()
    assert await gw.delete_message(A, theirs) is True
    assert await gw.send_message(B, "hello")
    assert time.monotonic() - started < 0.3
    assert not prompt.done()
    await prompt
    first, second = session.at("sendMessage", A)
    assert second - first >= 1.0


async def test_the_longest_retry_after_wins(server: fakeredis.FakeServer) -> None:
    # Two instances post in the same chat; Telegram tells them 2 s and 1 s.
    sessions = [TimedSession(world()), TimedSession(world())]
    gws = [gateway(s, limiter_on(server)) for s in sessions]
    for session, seconds in zip(sessions, (2, 1), strict=True):
        session.stage(
            "sendMessage", 429, f"Too Many Requests: retry after {seconds}", retry_after=seconds
        )
    started = time.monotonic()
    await asyncio.gather(*(gw.send_message(A, "prompt") for gw in gws))
    for session in sessions:
        first, second = session.at("sendMessage", A)
        assert first - started < 0.2
        assert second - started >= 2.0  # the shorter hold did not cut the longer one


async def test_waiters_wake_spread_out(server: fakeredis.FakeServer) -> None:
    session = TimedSession(world())
    gw = gateway(session, limiter_on(server))
    ids = [int(session.world.add_message(A, USER, f"m{n}")["message_id"]) for n in range(12)]
    session.stage("deleteMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    first = asyncio.create_task(gw.delete_message(A, ids[0]))
    await asyncio.sleep(0.05)  # every write is held for a second now
    held_at = session.at("deleteMessage")[0]
    with acting_as(Priority.DELETE):
        await asyncio.gather(first, *(gw.delete_message(A, i) for i in ids[1:]))
    woke = session.at("deleteMessage")[1:]
    assert len(woke) == 12
    assert min(woke) >= held_at + 1.0
    assert max(woke) - min(woke) >= 0.05  # not all at the same instant
    assert max(woke) <= held_at + 1.0 * (1 + JITTER) + JITTER_FLOOR + 0.2


def test_spread_adds_at_most_its_share() -> None:
    waits = [spread(1.0) for _ in range(200)]
    assert all(1.0 <= w <= 1.0 + JITTER + JITTER_FLOOR for w in waits)
    assert len({round(w, 3) for w in waits}) > 100


async def test_within_a_request_a_wait_past_the_budget_is_handed_back(
    server: fakeredis.FakeServer,
) -> None:
    session, limiter = FakeSession(world()), limiter_on(server)
    gw = gateway(session, limiter)
    await limiter.hold(f"chat:{A}", 5)
    started = time.monotonic()
    with budget(1.0), pytest.raises(RetryLater) as caught:
        await gw.send_message(A, "prompt")
    assert caught.value.retry_after == pytest.approx(5, abs=0.1)
    assert time.monotonic() - started < 0.2
    assert session.called("sendMessage") == []
    # A worker (no request budget) waits its turn instead.
    await limiter.hold("writes", 0.3)
    started = time.monotonic()
    assert await gw.send_message(B, "notice")
    assert time.monotonic() - started >= 0.3


async def test_calls_go_on_when_the_limiter_is_down(server: fakeredis.FakeServer) -> None:
    session = TimedSession(world())
    gw = gateway(session, limiter_on(server))
    server.connected = False
    with capture_logs() as logs:
        assert await gw.send_message(A, "prompt")
        session.stage("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        assert await gw.send_message(A, "again")  # it still waits Telegram's retry_after
    first, second = session.at("sendMessage", A)[1:]
    assert second - first >= 1.0
    warnings = [e for e in logs if e["event"] == "rate_limiter_unavailable"]
    assert len(warnings) == 1  # once, not per call


async def test_delete_messages_checks_the_batch_before_asking(
    server: fakeredis.FakeServer,
) -> None:
    session = FakeSession(world())
    gw = gateway(session, limiter_on(server))
    for ids in ([], list(range(1, 102))):
        with pytest.raises(ValueError, match="1-100"):
            await gw.delete_messages(A, ids)
    assert session.calls == []
    await gw.delete_messages(A, list(range(1, 101)))  # none exist: nothing to report
    assert len(session.called("deleteMessages")) == 1
