"""Sliding-window counters for login throttling, bounded in memory.

Why not the `limits` package: its in-memory store rescans every key (with a thread hop per key)
after each hit, which is the wrong cost for a login burst; this needs only a deque per key.

Each key keeps the times of its last `limit` events; an event is allowed while fewer than
`limit` fall inside the window. At most `max_keys` keys are kept: past that the least recently
touched one is forgotten (an attacker who floods keys can only reset the counters of keys it
made itself or of long-idle ones).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def _trim(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str) -> float:
        """0 if an event for `key` is allowed now, else seconds until one is."""
        now = self._clock()
        events = self._trim(key, now)
        if events is None or len(events) < self.limit:
            return 0.0
        return max(0.0, events[0] + self.window - now)

    def hit(self, key: str) -> None:
        now = self._clock()
        events = self._trim(key, now)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)
