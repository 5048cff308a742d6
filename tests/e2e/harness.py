"""Runs the real bot (container, dispatcher, services, SQLite, fakeredis) against
the fake Telegram transport, and delivers updates to it through one of two doors:

- "dispatcher": POST /webhook with the fast path off, so every update is
  validated by aiogram and goes through Dispatcher.feed_update under the guard;
- "fast_path": POST /webhook as in production, where plain group messages take
  the fast path and everything else the dispatcher.

Every delivery is recorded (HTTP answer, outcome, the Bot API calls made inside the
request and those the workers made after it) so the two doors can be compared
scenario by scenario (tests/e2e/conftest.py).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import fakeredis
from aiogram import Bot
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers

from gmbot.config import Settings, load_settings
from gmbot.container import build_container
from gmbot.domain.models import AuditEntry
from gmbot.domain.ports import CacheUnavailable, Outbox
from gmbot.runtime import Runtime, resolve, start
from gmbot.services.prompting import PromptService
from tests.fakes.telegram import FakeSession, TelegramWorld, member_dict

GROUP = -1001000000001
CHANNEL = -1002000000002
CHANNEL2 = -1002000000003
ADMIN = 1001
MEMBER = 2002
STRANGER = 3003
OPERATOR = 4004
ANONYMOUS_ADMIN = 1087968824  # @GroupAnonymousBot
CHANNEL_BOT = 136817688  # @Channel_Bot

DOORS = ("dispatcher", "fast_path")
SECRET = "e2e_secret"


class Answer(NamedTuple):
    """The webhook's HTTP answer to one delivery."""

    status: int
    body: dict[str, Any]
    retry_after: str | None = None


OK = Answer(200, {"ok": True})
DUPLICATE = Answer(200, {"ok": True, "duplicate": True})  # also a poison update given up on
FAILED = Answer(500, {"ok": False, "error": "handler failed"})


def retry_later(seconds: int) -> Answer:
    return Answer(503, {"ok": False, "error": "retry later"}, str(seconds))


# Redis or the database unreachable: asked again after DEPENDENCY_RECHECK (rounded up).
UNAVAILABLE = retry_later(1)


ApiCall = tuple[str, tuple[tuple[str, Any], ...]]  # method, sorted parameters

# Bot API parameters that depend on the clock, not on what the bot decided.
_CLOCK_PARAMS = frozenset({"until_date", "expire_date"})


@dataclass(frozen=True)
class Delivery:
    update_id: int
    answer: Answer
    outcome: str | None  # bot_updates_total's outcome label, None when not counted
    calls: tuple[ApiCall, ...]  # Bot API calls made inside the request, in order
    # Then those the workers made carrying out the outbox, sorted: the actions of one
    # round run concurrently, so their order among themselves is not behaviour.
    worked: tuple[ApiCall, ...] = ()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "bot_token": f"{TelegramWorld.bot_id}:TESTTOKEN",
        "telegram_api_url": "http://127.0.0.1:9",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gmbot.db'}",
        "redis_url": None,
        "environment": "development",
        "webhook_url": None,
        "webhook_secret": None,
        "instance_id": "test-1",
        "owner_ids": str(OPERATOR),
        "recheck_interval": 5,
        "log_format": "console",
        # The harness drains the outbox itself after each delivery (Harness.feed).
        "outbox_workers": False,
        # After Redis or the database was down, the first update once it is back asks
        # readiness again (the tests do not wait out a DEPENDENCY_RECHECK).
        "dependency_recheck": 1e-9,
    }
    values.update(overrides)
    return load_settings(**values)


class WallClock:
    """The instance's epoch seconds: the real clock, moved on by advance().

    It runs with real time (Redis' own clock, which some raid and prompt keys use,
    stays comparable), and a test skips ahead instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Harness:
    runtime: Runtime
    session: FakeSession
    redis: Any
    redis_server: Any
    clock: WallClock
    door: str | None = None
    client: TestClient | None = None  # type: ignore[type-arg]
    transcript: list[Delivery] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def world(self) -> TelegramWorld:
        return self.session.world

    @property
    def bot(self) -> Bot:
        assert self.runtime.bot is not None
        return self.runtime.bot

    def redis_reachable(self, up: bool) -> None:
        """Simulate a Redis outage (fakeredis raises ConnectionError while down)."""
        self.redis_server.connected = up

    async def database_reachable(self, up: bool) -> None:
        """Simulate a database outage: the SQLite file's place taken by a directory,
        which SQLite cannot open (even as root), and the pooled connections dropped."""
        engine = await resolve(self.runtime.container.gateways.engine)
        await engine.dispose()
        _swap_database_file(Path(engine.url.database), up)

    async def open_door(self, door: str) -> None:
        """Serve the webhook; updates fed from now on go through `door`."""
        assert door in DOORS
        assert self.runtime.settings.secret, "the webhook needs a secret"
        if door == "dispatcher":
            self.runtime.fast_path = None
        app, _probes = self.runtime.web_app()
        self.client = TestClient(TestServer(app))
        await self.client.start_server()
        self.door = door

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        await self.runtime.stop()

    def next_update_id(self) -> int:
        return next(self._update_ids)

    async def feed(
        self,
        payload: dict[str, Any],
        *,
        update_id: int | None = None,
        answer: Answer = OK,
        drain: bool = True,
    ) -> Any:
        """Deliver one update; its outcome (the gate's verdict for a message).

        Through a door the webhook's answer must be `answer`. Without one the
        update goes straight to the dispatcher and the handler's result is returned.
        The outbox is drained after it unless `drain` is false (a burst of updates the
        workers then take together: the next drained delivery carries them out).
        """
        if update_id is None:
            update_id = self.next_update_id()
        body = {"update_id": update_id, **payload}
        if self.client is None:
            update = Update.model_validate(body, context={"bot": self.bot})
            assert self.runtime.dispatcher is not None
            result = await self.runtime.dispatcher.feed_update(self.bot, update)
            if drain:
                await self.drain()
            return result
        first_call, counted = len(self.session.calls), self._update_counts()
        resp = await self.client.post(
            self.runtime.settings.webhook_path,
            data=json.dumps(body),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        got = Answer(resp.status, await resp.json(), resp.headers.get("Retry-After"))
        answered_call = len(self.session.calls)
        if drain:
            await self.drain()
        outcome = self._outcome_since(counted)
        calls = self._calls(first_call, answered_call)
        worked = tuple(sorted(self._calls(answered_call, len(self.session.calls))))
        self.transcript.append(Delivery(update_id, got, outcome, calls, worked))
        assert got == answer, f"{self.door} door answered {got}, expected {answer}"
        return outcome

    def _calls(self, start: int, end: int) -> tuple[ApiCall, ...]:
        return tuple(
            (c.method, tuple(sorted((k, v) for k, v in c.params.items() if k not in _CLOCK_PARAMS)))
            for c in self.session.calls[start:end]
        )

    async def drain(self) -> int:
        """Carry out what the delivery recorded in the outbox, as the workers would.

        With Redis unreachable the outbox is too (nothing could be recorded in it):
        the workers would pause and try again, so there is nothing to carry out."""
        try:
            return await self.runtime.workers.drain()
        except CacheUnavailable:
            return 0

    async def outbox(self) -> Outbox:
        """The fleet's outbox this instance records in (on the harness's fakeredis)."""
        outbox: Outbox = await resolve(self.runtime.container.gateways.outbox)
        return outbox

    async def sweep(self) -> int:
        """What the raid sweep does every second on every instance: refresh notices
        showing an old count, end calm raids. Returns how many raids ended."""
        prompting: PromptService = await resolve(self.runtime.container.services.prompting)
        return await prompting.sweep()

    async def audit(self, chat_id: int) -> list[AuditEntry]:
        """The group's audit log, newest first."""
        uow = await resolve(self.runtime.container.gateways.uow)
        async with uow() as u:
            entries: list[AuditEntry] = await u.audit.recent(chat_id, 500)
        return entries

    def _update_counts(self) -> dict[tuple[str, str], float]:
        assert self.runtime.services is not None
        counts: dict[tuple[str, str], float] = {}
        for family in self.runtime.services.metrics.updates.collect():
            for sample in family.samples:
                if sample.name == "bot_updates_total":
                    counts[(sample.labels["type"], sample.labels["outcome"])] = sample.value
        return counts

    def _outcome_since(self, before: dict[tuple[str, str], float]) -> str | None:
        grown = [
            (key, value - before.get(key, 0.0))
            for key, value in self._update_counts().items()
            if value != before.get(key, 0.0)
        ]
        if not grown:
            return None
        assert len(grown) == 1, f"one delivery counted as {grown}"
        assert grown[0][1] == 1, f"one delivery counted as {grown}"
        return grown[0][0][1]

    def message_payload(
        self, chat_id: int, user_id: int | None, text: str = "hello", **extra: Any
    ) -> dict[str, Any]:
        if user_id is None:
            # Telegram's placeholders for posts made as a chat.
            as_group = extra.get("sender_chat", {}).get("id") == chat_id
            user_id = ANONYMOUS_ADMIN if as_group else CHANNEL_BOT
            if user_id not in self.world.users:
                name = "Group" if as_group else "Channel"
                self.world.user(user_id, name, is_bot=True)
        return self.world.add_message(chat_id, user_id, text, **extra)

    async def say(
        self,
        chat_id: int,
        user_id: int | None,
        text: str = "hello",
        *,
        answer: Answer = OK,
        drain: bool = True,
        **extra: Any,
    ) -> Any:
        message = self.message_payload(chat_id, user_id, text, **extra)
        return await self.feed({"message": message}, answer=answer, drain=drain)

    async def edit(self, chat_id: int, user_id: int, text: str, *, answer: Answer = OK) -> Any:
        msg = self.message_payload(chat_id, user_id, text)
        msg["edit_date"] = int(time.time())
        return await self.feed({"edited_message": msg}, answer=answer)

    async def press(self, chat_id: int, message_id: int, user_id: int, data: str) -> Any:
        message = self.world.messages[chat_id][message_id]
        return await self.feed(
            {
                "callback_query": {
                    "id": f"cb{self.next_update_id()}",
                    "from": self.world.users[user_id],
                    "chat_instance": "ci",
                    "message": message,
                    "data": data,
                }
            }
        )

    async def member_update(
        self,
        chat_id: int,
        user_id: int,
        old: str,
        new: str,
        *,
        mine: bool = False,
        **new_extra: Any,
    ) -> Any:
        self.world.set_status(chat_id, user_id, new, **new_extra)
        new_member = self.world.members[(chat_id, user_id)]
        old_member = member_dict(old, self.world.users[user_id])
        key = "my_chat_member" if mine else "chat_member"
        return await self.feed(
            {
                key: {
                    "chat": self.world.chat_summary(chat_id),
                    "from": self.world.users[user_id],
                    "date": int(time.time()),
                    "old_chat_member": old_member,
                    "new_chat_member": new_member,
                }
            }
        )

    def present(self, message: dict[str, Any]) -> bool:
        """Whether a message (as delivered) is still in its chat."""
        return message["message_id"] in self.world.messages[message["chat"]["id"]]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [
            m for m in self.world.messages[chat_id].values() if m["from"]["id"] == self.world.bot_id
        ]

    def last_bot_text(self, chat_id: int) -> str:
        msgs = self.bot_messages(chat_id)
        assert msgs, f"the bot sent nothing to {chat_id}"
        return str(msgs[-1]["text"])


def _swap_database_file(path: Path, up: bool) -> None:
    away = path.with_name(path.name + ".away")
    if up:
        path.rmdir()
        away.rename(path)
    else:
        path.rename(away)
        path.mkdir()


def standard_world(world: TelegramWorld) -> None:
    """A supergroup protected-ready: the bot is admin of the group and the channel."""
    world.user(ADMIN, "Alice")
    world.user(MEMBER, "Mel")
    world.user(STRANGER, "Stan")
    world.user(OPERATOR, "Otto")
    world.chat(GROUP, "supergroup", "Fans")
    world.chat(CHANNEL, "channel", "News", username="newschan")
    world.chat(CHANNEL2, "channel", "Extra", username="extrachan")
    world.set_status(GROUP, world.bot_id, "administrator")
    world.set_status(GROUP, ADMIN, "creator")
    world.set_status(GROUP, MEMBER, "member")
    world.set_status(GROUP, STRANGER, "member")
    world.set_status(CHANNEL, world.bot_id, "administrator")
    world.set_status(CHANNEL2, world.bot_id, "administrator")
    world.set_status(CHANNEL, MEMBER, "member")
    world.set_status(CHANNEL2, MEMBER, "member")


async def start_harness(
    settings: Settings, world: TelegramWorld | None = None, clock: WallClock | None = None
) -> Harness:
    session = FakeSession(world)
    clock = clock or WallClock()
    container = build_container(settings)
    container.gateways.wall_seconds.override(providers.Object(clock))
    bot = Bot(settings.token, session=session)
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeAsyncRedis(server=server)
    container.gateways.bot.override(providers.Object(bot))
    container.gateways.redis.override(providers.Object(redis))
    runtime = await start(settings, container)
    session.clear()
    return Harness(runtime, session, redis, server, clock)
