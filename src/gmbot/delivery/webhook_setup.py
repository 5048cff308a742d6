"""Register the webhook once per configuration change, whichever instance starts.

getWebhookInfo never returns the secret, so a hash of what was registered (URL,
secret, allowed updates, max connections) is kept in Redis; an instance that
finds the same hash does nothing, and a change is registered by the one instance
holding a short lock. Pending updates are never dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aiogram import Bot
from redis.asyncio import Redis

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    secret: str
    allowed_updates: tuple[str, ...]
    max_connections: int

    def digest(self) -> str:
        raw = "\n".join(
            [self.url, self.secret, ",".join(self.allowed_updates), str(self.max_connections)]
        )
        return hashlib.sha256(raw.encode()).hexdigest()


class WebhookRegistrar:
    def __init__(
        self,
        bot: Bot,
        redis: Redis,
        config: WebhookConfig,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        lock_seconds: float = 30.0,
    ) -> None:
        self._bot = bot
        self._redis = redis
        self._config = config
        keys = CacheKeys(namespace)
        self._hash_key = keys.webhook_hash
        self._lock_key = keys.webhook_lock
        self._lock_ms = int(lock_seconds * 1000)
        self._registered = False  # this instance saw its configuration registered

    async def current_registered(self) -> bool:
        if self._registered:
            return True
        stored = await self._redis.get(self._hash_key)
        if isinstance(stored, bytes):
            stored = stored.decode()
        self._registered = stored == self._config.digest()
        return self._registered

    async def previous_secret_allowed(self) -> bool:
        """The previous secret stays valid until the new configuration is registered."""
        try:
            return not await self.current_registered()
        except Exception:  # cannot tell: accept, the request is still authenticated
            return True

    async def ensure(self, attempts: int = 30, *, force: bool = False) -> bool:
        """Register the configuration unless it already is; True if this call set it.

        `force` registers even when the stored hash says it is done (an operator's
        explicit `gmbot set-webhook`).
        """
        if force:
            await self.forget()
            self._registered = False
        for _ in range(attempts):
            if await self.current_registered():
                return False
            if await self._redis.set(self._lock_key, "1", nx=True, px=self._lock_ms):
                try:
                    if await self.current_registered():
                        return False
                    await self._register()
                    await self._redis.set(self._hash_key, self._config.digest())
                    self._registered = True
                    return True
                finally:
                    await self._redis.delete(self._lock_key)
            await asyncio.sleep(1)  # another instance is registering it
        raise TimeoutError("could not register the webhook: the lock stayed taken")

    async def _register(self) -> None:
        cfg = self._config
        await self._bot.set_webhook(
            cfg.url,
            secret_token=cfg.secret,
            allowed_updates=list(cfg.allowed_updates),
            max_connections=cfg.max_connections,
            drop_pending_updates=False,
        )
        log.info("webhook_registered", url=cfg.url, allowed_updates=list(cfg.allowed_updates))

    async def forget(self) -> None:
        """After deleteWebhook: the next start registers again."""
        await self._redis.delete(self._hash_key)


def webhook_config(
    url: str, secret: str, allowed: Sequence[str], max_connections: int
) -> WebhookConfig:
    return WebhookConfig(url, secret, tuple(allowed), max_connections)
