"""Who may call the model now: per-tier rate, spend caps, and concurrency slots.

Why refuse instead of queueing forever: an NPC that answers from the offline grammar at once is
better play than one that answers a minute late, and a bounded wait keeps memory bounded when
players talk faster than the provider answers. Every refusal has a reason that is counted.

- Rate: one `aiolimiter.AsyncLimiter` per player (leaky bucket, AI_RATE_FREE or AI_RATE_PREMIUM
  calls per minute, bursts up to that many), kept in an LRU+TTL map so idle players cost
  nothing. Checked without waiting (`has_capacity`).
- Spend: tokens per player per clock hour and per server per UTC day, fixed windows counted
  in memory (this process; several instances each enforce their own share). A call is refused
  once the window is spent; the call that crosses the line is allowed to finish.
- Concurrency: at most AI_PLAYER_CONCURRENCY calls per player (more are refused at once: the
  game layer cancels a superseded talk) and AI_MAX_CONCURRENCY in total; a call waits up to
  AI_QUEUE_TIMEOUT for a global slot, and the waiters are the queue depth.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from cachetools import TTLCache

from server.ai.types import CallerInfo

MAX_TRACKED_PLAYERS = 100_000


class Refused(Exception):
    """The call may not go to the model now; `reason` says why (a metric label)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_concurrency: int = 32
    player_concurrency: int = 1
    queue_timeout: float = 2.0
    rate_free: float = 10.0
    rate_premium: float = 60.0
    player_tokens_per_hour: int = 20000
    server_tokens_per_day: int = 2_000_000


class Limits:
    def __init__(self, s: LimitSettings, clock: Callable[[], float] = time.time) -> None:
        self.s = s
        self.clock = clock
        self._global = asyncio.Semaphore(s.max_concurrency)
        self.waiting = 0
        self.in_flight = 0
        self._per_player: dict[str, int] = {}
        self._rates: TTLCache[tuple[str, str], AsyncLimiter] = TTLCache(
            MAX_TRACKED_PLAYERS, ttl=300, timer=time.monotonic
        )
        self._player_spend: TTLCache[tuple[str, int], int] = TTLCache(
            MAX_TRACKED_PLAYERS, ttl=7200, timer=time.monotonic
        )
        self._server_day = -1
        self._server_spent = 0

    # --- rate ------------------------------------------------------------------------------

    async def take_rate(self, caller: CallerInfo) -> None:
        if caller.player_id is None:
            return
        key = (caller.player_id, caller.tier)
        lim = self._rates.get(key)
        if lim is None:
            per_min = self.s.rate_premium if caller.tier == "premium" else self.s.rate_free
            lim = self._rates[key] = AsyncLimiter(per_min, 60.0)
        if not lim.has_capacity():
            raise Refused(f"rate_limited_{caller.tier}")
        # has_capacity() just said yes, so this returns without waiting.
        await lim.acquire()

    # --- spend -----------------------------------------------------------------------------

    def _hour(self) -> int:
        return int(self.clock() // 3600)

    def _roll_day(self) -> None:
        day = int(self.clock() // 86400)
        if day != self._server_day:
            self._server_day = day
            self._server_spent = 0

    def check_spend(self, caller: CallerInfo) -> None:
        self._roll_day()
        if self.s.server_tokens_per_day and self._server_spent >= self.s.server_tokens_per_day:
            raise Refused("spend_cap_server")
        if caller.player_id is not None and self.s.player_tokens_per_hour:
            used = self._player_spend.get((caller.player_id, self._hour()), 0)
            if used >= self.s.player_tokens_per_hour:
                raise Refused("spend_cap_player")

    def charge(self, caller: CallerInfo, tokens: int) -> None:
        if tokens <= 0:
            return
        self._roll_day()
        self._server_spent += tokens
        if caller.player_id is not None:
            key = (caller.player_id, self._hour())
            self._player_spend[key] = self._player_spend.get(key, 0) + tokens

    def spent(self, player_id: str | None = None) -> int:
        if player_id is None:
            self._roll_day()
            return self._server_spent
        return self._player_spend.get((player_id, self._hour()), 0)

    # --- concurrency -----------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, caller: CallerInfo) -> AsyncIterator[None]:
        pid = caller.player_id
        if pid is not None:
            if self._per_player.get(pid, 0) >= self.s.player_concurrency:
                raise Refused("player_busy")
            self._per_player[pid] = self._per_player.get(pid, 0) + 1
        try:
            self.waiting += 1
            try:
                async with asyncio.timeout(self.s.queue_timeout):
                    await self._global.acquire()
            except TimeoutError:
                raise Refused("queue_full") from None
            finally:
                self.waiting -= 1
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1
                self._global.release()
        finally:
            if pid is not None:
                left = self._per_player[pid] - 1
                if left:
                    self._per_player[pid] = left
                else:
                    del self._per_player[pid]
