"""Redis adapters for the cache ports (fakeredis stands in when no Redis is configured)."""

from gmbot.cache.gate_cache import RedisGateCache
from gmbot.cache.health import RedisHealth
from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.cache.membership_cache import RedisMembershipCache
from gmbot.cache.prompt_store import RedisPromptStore
from gmbot.cache.redis_client import create_redis, redis_pool_stats
from gmbot.cache.throttle import RedisThrottle

__all__ = [
    "DEFAULT_NAMESPACE",
    "CacheKeys",
    "RedisGateCache",
    "RedisHealth",
    "RedisMembershipCache",
    "RedisPromptStore",
    "RedisThrottle",
    "create_redis",
    "redis_pool_stats",
]
