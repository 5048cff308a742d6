"""In-memory MenuStore (the Redis adapter is one GET/SET of a key)."""

from __future__ import annotations

from gmbot.domain.ports import CacheUnavailable, MenuStore


class InMemoryMenuStore(MenuStore):
    def __init__(self) -> None:
        self.digest: str | None = None
        self.available = True  # False: every call raises CacheUnavailable, as Redis down

    async def registered(self) -> str | None:
        if not self.available:
            raise CacheUnavailable("fake redis down")
        return self.digest

    async def remember(self, digest: str) -> None:
        if not self.available:
            raise CacheUnavailable("fake redis down")
        self.digest = digest
