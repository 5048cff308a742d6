"""Every message shape the fast path takes for itself, through the real dispatcher.

The fast path stands in for aiogram's routers only as long as, for those shapes,
the dispatcher would run the gate's handler and nothing but the middleware the
fast path mirrors. A router or middleware added later that would see these
messages fails here: teach the fast path about it, or narrow plain_group_message.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.middlewares.manager import MiddlewareManager
from aiogram.types import Message, TelegramObject, Update

from gmbot.bot.routers import messages
from gmbot.delivery.fast_path import plain_group_message
from tests.e2e.harness import Harness, make_settings, standard_world, start_harness
from tests.fakes.telegram import TelegramWorld
from tests.unit.delivery.fast_path_shapes import ACCEPTED

# aiogram's own, which the fast path needs not mirror: ErrorsMiddleware only hands
# a failure to `errors` handlers (there must be none), UserContextMiddleware only
# fills in handler data. FastPath.handle binds UpdateContextMiddleware's log context
# and counts its metrics.
MIRRORED = ["ErrorsMiddleware", "UserContextMiddleware", "UpdateContextMiddleware"]
HANDLERS = {"message": messages.gate, "edited_message": messages.gate_edited}

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Recorder:
    def __init__(self) -> None:
        self.middlewares: list[str] = []
        self.handlers: list[Callable[..., Any]] = []


class Spy(BaseMiddleware):
    """Wraps a registered middleware and notes that it ran."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self._inner, self._recorder = inner, recorder

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self._recorder.middlewares.append(type(self._inner).__name__)
        return await self._inner(handler, event, data)


class HandlerSpy(BaseMiddleware):
    """An inner middleware on the dispatcher: notes the handler that took the event."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        taken: HandlerObject = data["handler"]
        self._recorder.handlers.append(taken.callback)
        return await handler(event, data)


def spy_on(dp: Dispatcher) -> Recorder:
    """Wrap every middleware of every router and observer, and note the handlers."""
    recorder = Recorder()
    for router in dp.chain_tail:
        for observer in router.observers.values():
            managers: list[MiddlewareManager] = [observer.outer_middleware, observer.middleware]
            for manager in managers:
                registered = list(manager)
                for middleware in registered:
                    manager.unregister(middleware)
                for middleware in registered:
                    manager.register(Spy(middleware, recorder))
    # Inner middlewares of the dispatcher run for the handlers of every router.
    dp.message.middleware(HandlerSpy(recorder))
    dp.edited_message.middleware(HandlerSpy(recorder))
    return recorder


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    world = TelegramWorld()
    standard_world(world)
    h = await start_harness(make_settings(tmp_path), world)
    try:
        yield h
    finally:
        await h.close()


@pytest.mark.parametrize("data", ACCEPTED)
async def test_the_gate_alone_takes_what_the_fast_path_takes(
    bot: Harness, data: dict[str, Any]
) -> None:
    parsed = plain_group_message(copy.deepcopy(data))
    assert parsed is not None
    _update_id, kind, _msg = parsed
    dp = bot.runtime.dispatcher
    assert dp is not None
    recorder = spy_on(dp)
    update = Update.model_validate(data, context={"bot": bot.bot})
    await dp.feed_update(bot.bot, update)
    assert recorder.handlers == [HANDLERS[kind]]
    assert recorder.middlewares == MIRRORED
    assert [r.name for r in dp.chain_tail if r.errors.handlers] == []


class Throttle(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        return await handler(event, data)


async def keywords(message: Message) -> None:
    return None


async def test_the_spies_see_a_middleware_or_handler_added_later(bot: Harness) -> None:
    dp = bot.runtime.dispatcher
    assert dp is not None
    dp.message.outer_middleware(Throttle())
    dp.message.register(keywords)
    recorder = spy_on(dp)
    await dp.feed_update(bot.bot, Update.model_validate(ACCEPTED[0], context={"bot": bot.bot}))
    assert recorder.middlewares == [*MIRRORED, "Throttle"]
    assert recorder.handlers == [keywords]
