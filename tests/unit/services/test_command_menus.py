"""CommandMenus: registered once, once across racing instances, again on change,
and a Telegram or Redis error never raises."""

from __future__ import annotations

import asyncio

from gmbot.domain.telegram import CommandScope, ScopeType, TelegramUnavailable
from gmbot.services.command_menus import ADMIN_COMMANDS, MENUS, PRIVATE_COMMANDS, CommandMenus
from tests.fakes.clock import FakeClock
from tests.fakes.job_lock import InMemoryJobLock
from tests.fakes.menu_store import InMemoryMenuStore
from tests.fakes.telegram_gateway import FakeTelegramGateway

ADMINS = CommandScope(ScopeType.ALL_CHAT_ADMINISTRATORS)
PRIVATE = CommandScope(ScopeType.ALL_PRIVATE_CHATS)


def sets(telegram: FakeTelegramGateway) -> int:
    return len([c for c in telegram.calls if c.method == "set_commands"])


async def test_registers_every_scope_once() -> None:
    telegram, store, lock = FakeTelegramGateway(), InMemoryMenuStore(), InMemoryJobLock(FakeClock())
    menus = CommandMenus(telegram, store, lock)
    assert await menus.register()
    assert telegram.commands[(ADMINS, "")] == list(ADMIN_COMMANDS)
    assert telegram.commands[(PRIVATE, "")] == list(PRIVATE_COMMANDS)
    assert telegram.commands[(CommandScope(ScopeType.DEFAULT), "")] == []
    assert telegram.commands[(CommandScope(ScopeType.ALL_GROUP_CHATS), "")] == []
    assert sets(telegram) == len(MENUS)
    # A restart (a new service over the same Redis) registers nothing.
    assert await CommandMenus(telegram, store, lock).register()
    assert sets(telegram) == len(MENUS)


async def test_two_instances_racing_register_once() -> None:
    telegram, store, lock = FakeTelegramGateway(), InMemoryMenuStore(), InMemoryJobLock(FakeClock())
    a, b = CommandMenus(telegram, store, lock), CommandMenus(telegram, store, lock)
    await asyncio.gather(a.register(), b.register())
    assert sets(telegram) == len(MENUS)
    assert store.digest is not None


async def test_a_change_re_registers() -> None:
    telegram, store, lock = FakeTelegramGateway(), InMemoryMenuStore(), InMemoryJobLock(FakeClock())
    await CommandMenus(telegram, store, lock).register()
    changed = ((PRIVATE, (("start", "Start"),)),)
    assert await CommandMenus(telegram, store, lock, menus=changed).register()
    assert telegram.commands[(PRIVATE, "")] == [("start", "Start")]
    assert sets(telegram) == len(MENUS) + 1


async def test_telegram_error_is_logged_not_raised_and_retried() -> None:
    telegram, store, lock = FakeTelegramGateway(), InMemoryMenuStore(), InMemoryJobLock(FakeClock())
    menus = CommandMenus(telegram, store, lock)
    telegram.fail("set_commands", TelegramUnavailable("down"))
    assert not await menus.register()
    assert store.digest is None
    assert lock.holder("command_menus") is None  # freed for the retry
    assert await menus.register()
    assert store.digest is not None


async def test_redis_down_is_not_raised() -> None:
    telegram, store, lock = FakeTelegramGateway(), InMemoryMenuStore(), InMemoryJobLock(FakeClock())
    store.available = False
    assert not await CommandMenus(telegram, store, lock).register()
