"""L2: Redis, shared by every server instance, and allowed to fail.

Why a circuit breaker: when Redis is down every call would wait for its timeout, and cache
lookups sit on login and resume paths. After a failure the cache reports "degraded" and answers
every call at once as a miss (or a failed write) until a background probe, backing off up to
PERSIST_RETRY_MAX seconds, finds Redis answering again. Nothing here ever raises to the game.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from config.secrets import mask_url
from server.persistence.metrics import PersistenceMetrics

log = logging.getLogger("ganggpt.cache")
T = TypeVar("T")


def _mask(url: str) -> str:
    """The URL without its password, for health output and logs."""
    return mask_url(url)


class RedisCache:
    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        timeout: float = 0.5,
        metrics: PersistenceMetrics,
        retry_max: float = 5.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.metrics = metrics
        self.retry_max = retry_max
        kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry_on_timeout": False,
        }
        if password:
            kwargs["password"] = password
        self._r: Any = aioredis.from_url(url, **kwargs)
        self.up = False
        self.last_error: str | None = "not started"
        self._probe: asyncio.Task[None] | None = None
        self._closed = False
        self.down_since: float | None = None

    @property
    def client(self) -> Any:
        """The raw redis client (backup and restore use it)."""
        return self._r

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self._r.ping(), self.timeout)
        except Exception as err:
            self._fail(err)
            return
        self._ok()

    async def close(self) -> None:
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
        with contextlib.suppress(Exception):
            await self._r.aclose()

    def _ok(self) -> None:
        if not self.up:
            if self.down_since is not None:
                log.warning("redis back after %.1f s", time.time() - self.down_since)
            self.up = True
            self.last_error = None
            self.down_since = None
            self.metrics.redis_up.set(1)

    def _fail(self, err: BaseException) -> None:
        self.metrics.redis_errors.inc()
        self.last_error = f"{type(err).__name__}: {err}"
        if self.up or self.down_since is None:
            log.warning("redis unavailable, cache degraded: %s", self.last_error)
            self.down_since = time.time()
        self.up = False
        self.metrics.redis_up.set(0)
        if not self._closed and (self._probe is None or self._probe.done()):
            self._probe = asyncio.get_running_loop().create_task(
                self._probe_loop(), name="ganggpt-redis-probe"
            )

    async def _probe_loop(self) -> None:
        delay = 0.1
        while not self.up and not self._closed:
            await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(self._r.ping(), self.timeout)
            except Exception as err:
                self.last_error = f"{type(err).__name__}: {err}"
                delay = min(delay * 2, self.retry_max)
                continue
            self._ok()

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> tuple[bool, T | None]:
        """Run `fn(client)`; (False, None) at once while Redis is down, or if it fails now."""
        if not self.up or self._closed:
            return False, None
        try:
            # asyncio.timeout, not wait_for: no inner task that a cancelled caller (shutdown)
            # would leave behind with an exception nobody retrieves.
            async with asyncio.timeout(self.timeout):
                res = await fn(self._r)
        except Exception as err:
            self._fail(err)
            return False, None
        return True, res

    async def get_json(self, key: str) -> tuple[bool, Any]:
        ok, raw = await self.call(lambda r: r.get(key))
        if not ok:
            self.metrics.cache_requests.labels("l2", "error").inc()
            return False, None
        if raw is None:
            self.metrics.cache_requests.labels("l2", "miss").inc()
            return False, None
        self.metrics.cache_requests.labels("l2", "hit").inc()
        return True, orjson.loads(raw)

    async def set_json(self, key: str, value: Any, ttl: float) -> bool:
        data = orjson.dumps(value)
        ok, _ = await self.call(lambda r: r.set(key, data, px=max(1, int(ttl * 1000))))
        return ok

    async def set_many(self, items: Mapping[str, Any], ttl: float) -> bool:
        if not items:
            return True
        px = max(1, int(ttl * 1000))

        async def run(r: Any) -> Any:
            pipe = r.pipeline(transaction=False)
            for k, v in items.items():
                pipe.set(k, orjson.dumps(v), px=px)
            return await pipe.execute()

        ok, _ = await self.call(run)
        return ok

    async def delete(self, *keys: str) -> bool:
        if not keys:
            return True
        ok, _ = await self.call(lambda r: r.delete(*keys))
        return ok

    async def getdel_json(self, key: str) -> tuple[bool, Any]:
        """Atomic take: a resume token can be used once, by one server instance."""
        ok, raw = await self.call(lambda r: r.getdel(key))
        if not ok or raw is None:
            return False, None
        return True, orjson.loads(raw)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "ok" if self.up else "degraded",
            "backend": "redis",
            "url": _mask(self.url),
        }
        if not self.up:
            out["error"] = self.last_error
            if self.down_since is not None:
                out["down_for_s"] = round(time.time() - self.down_since, 1)
        return out
