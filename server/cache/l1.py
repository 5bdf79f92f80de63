"""L1: the in-process cache in front of Redis.

Why cachetools' TTLCache: it is LRU-bounded (memory cannot grow with the number of keys ever
seen) and every entry expires, so a value changed by another server instance is stale here for
at most CACHE_L1_TTL seconds. Values are stored as the decoded objects, so a hit costs no
JSON parsing.
"""

from __future__ import annotations

import time
from typing import Any

from cachetools import TTLCache


class L1Cache:
    def __init__(self, size: int, ttl: float) -> None:
        self.enabled = size > 0
        self._data: TTLCache[str, Any] = TTLCache(
            maxsize=max(size, 1), ttl=ttl, timer=time.monotonic
        )

    def get(self, key: str) -> tuple[bool, Any]:
        """(found, value): a cached None is a hit, unlike a missing key."""
        if not self.enabled:
            return False, None
        try:
            return True, self._data[key]
        except KeyError:
            return False, None

    def set(self, key: str, value: Any) -> None:
        if self.enabled:
            self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
