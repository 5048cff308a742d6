"""The aiogram Dispatcher, with services in its workflow data."""

from __future__ import annotations

from aiogram import Dispatcher

from gmbot.bot.middleware import UpdateContextMiddleware
from gmbot.bot.routers import build_router
from gmbot.bot.services import Services

# Updates GMBot needs; chat_member is only sent when asked for explicitly.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "chat_member", "my_chat_member")


def build_dispatcher(services: Services) -> Dispatcher:
    # No FSM: GMBot keeps no per-user conversation state, and an in-memory FSM
    # store would be per-instance state.
    dp = Dispatcher(disable_fsm=True)
    dp["services"] = services
    dp.update.outer_middleware(UpdateContextMiddleware(services.metrics))
    dp.include_router(build_router())
    return dp
