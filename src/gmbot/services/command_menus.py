"""The bot's command menus (setMyCommands), registered once across the fleet and
only when they changed since the last registration."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import structlog

from gmbot.domain.ports import CacheUnavailable, JobLock, MenuStore, TelegramGateway
from gmbot.domain.telegram import CommandScope, ScopeType, TelegramError

log = structlog.get_logger(__name__)

Menu = tuple[tuple[str, str], ...]

ADMIN_COMMANDS: Menu = (
    ("protect", "Require channel subscription here"),
    ("unprotect", "Stop protecting this group"),
    ("status", "Show this group's protection"),
    ("settings", "Change how GMBot acts here"),
    ("exempt", "Let a user post without subscribing"),
    ("unexempt", "Remove a user's exemption"),
)
PRIVATE_COMMANDS: Menu = (
    ("start", "Start the bot"),
    ("help", "How GMBot works"),
    ("settings", "Settings of the groups you administer"),
    ("cancel", "Stop answering the bot's question"),
)

# Members see no menu: an empty list at the default and group scopes (an empty
# setMyCommands clears a scope, like deleteMyCommands; the admin scope still applies).
MENUS: tuple[tuple[CommandScope, Menu], ...] = (
    (CommandScope(ScopeType.DEFAULT), ()),
    (CommandScope(ScopeType.ALL_GROUP_CHATS), ()),
    (CommandScope(ScopeType.ALL_CHAT_ADMINISTRATORS), ADMIN_COMMANDS),
    (CommandScope(ScopeType.ALL_PRIVATE_CHATS), PRIVATE_COMMANDS),
)

LOCK = "command_menus"


def menus_digest(menus: Sequence[tuple[CommandScope, Menu]]) -> str:
    shape = [[scope.type.value, scope.chat_id, [list(c) for c in menu]] for scope, menu in menus]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()


class CommandMenus:
    def __init__(
        self,
        telegram: TelegramGateway,
        store: MenuStore,
        lock: JobLock,
        menus: Sequence[tuple[CommandScope, Menu]] = MENUS,
        lock_seconds: float = 60.0,
    ) -> None:
        self._telegram = telegram
        self._store = store
        self._lock = lock
        self._menus = tuple(menus)
        self._lock_seconds = lock_seconds

    async def register(self) -> bool:
        """Register the menus unless already registered; True when they are now
        current. A Telegram or Redis error is logged and answers False (retry later),
        never raised: the menus are a convenience, start-up must not depend on them."""
        try:
            return await self._register()
        except (TelegramError, CacheUnavailable) as err:
            log.warning("command_menus_failed", error=str(err))
            return False

    async def _register(self) -> bool:
        digest = menus_digest(self._menus)
        if await self._store.registered() == digest:
            return True
        token = await self._lock.hold(LOCK, self._lock_seconds)
        if token is None:
            return False  # another instance is registering them
        try:
            # Re-read under the lock: the holder before us may have just finished.
            if await self._store.registered() == digest:
                return True
            for scope, menu in self._menus:
                await self._telegram.set_commands(menu, scope)
            await self._store.remember(digest)
            log.info("command_menus_registered", digest=digest[:12])
            return True
        finally:
            await self._lock.release(LOCK, token)
