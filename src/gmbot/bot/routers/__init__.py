"""Routers, one module per concern, collected in the order they must match."""

from __future__ import annotations

from aiogram import Router

from gmbot.bot.routers import callbacks, group_commands, members, messages, panel, private


def build_router() -> Router:
    root = Router(name="gmbot")
    # Commands before the gate: a command message is also a message.
    root.include_routers(
        private.build(),
        group_commands.build(),
        callbacks.build(),
        panel.build(),
        members.build(),
        messages.build(),
    )
    return root
