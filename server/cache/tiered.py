"""The cache the persistence service uses: L1 in process, then Redis, then the caller's loader.

Why write-through to both layers and delete on change: the database stays the source of truth;
a change made here deletes the key in both layers, so this instance never serves a stale value
it caused, and other instances see it once their L1 entry (CACHE_L1_TTL) expires.
Without REDIS_URL the L1 alone is the cache (the "in-process equivalent").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.cache.keys import CacheKeys
from server.cache.l1 import L1Cache
from server.cache.redis_cache import RedisCache
from server.persistence.metrics import PersistenceMetrics


class TieredCache:
    def __init__(
        self,
        l1: L1Cache,
        l2: RedisCache | None,
        metrics: PersistenceMetrics,
        *,
        ttl: float,
        keys: CacheKeys,
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.metrics = metrics
        self.ttl = ttl
        self.keys = keys
        if l2 is None:
            metrics.redis_up.set(-1)

    async def start(self) -> None:
        if self.l2 is not None:
            await self.l2.start()

    async def close(self) -> None:
        if self.l2 is not None:
            await self.l2.close()

    async def get(self, key: str) -> tuple[bool, Any]:
        found, value = self.l1.get(key)
        if found:
            self.metrics.cache_requests.labels("l1", "hit").inc()
            return True, value
        self.metrics.cache_requests.labels("l1", "miss").inc()
        if self.l2 is None:
            return False, None
        found, value = await self.l2.get_json(key)
        if found:
            self.l1.set(key, value)
        return found, value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.l1.set(key, value)
        if self.l2 is not None:
            await self.l2.set_json(key, value, self.ttl if ttl is None else ttl)

    async def set_many(self, items: dict[str, Any]) -> None:
        for k, v in items.items():
            self.l1.set(k, v)
        if self.l2 is not None:
            await self.l2.set_many(items, self.ttl)

    async def delete(self, *keys: str) -> None:
        for k in keys:
            self.l1.delete(k)
        if self.l2 is not None:
            await self.l2.delete(*keys)

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """Cached value, or `loader()`'s (cached when not None). Loader errors propagate."""
        found, value = await self.get(key)
        if found:
            return value
        value = await loader()
        if value is not None:
            await self.set(key, value)
        return value

    def status(self) -> dict[str, Any]:
        if self.l2 is None:
            return {"status": "ok", "backend": "in-process", "l1_entries": len(self.l1)}
        out = self.l2.status()
        out["l1_entries"] = len(self.l1)
        return out
