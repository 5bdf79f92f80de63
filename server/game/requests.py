"""Player requests that need storage (factions, companions): one at a time per player, each on
a task of its own, never on the tick.

Why one at a time: a request reads, checks the rules, then writes; a client that sends the
same `join` ten times must not get ten interleaved read-check-writes, and one player cannot
pile up unbounded tasks. A request arriving while that player's previous one runs is refused
(`busy`) by the caller, which knows how to say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("ganggpt.requests")


class PlayerRequests:
    def __init__(self, name: str) -> None:
        self.name = name
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def busy(self, player_id: str) -> bool:
        return player_id in self._running

    def run(self, player_id: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Start `work()` for this player; False (nothing started) while its last one runs."""
        if player_id in self._running:
            return False
        task = asyncio.get_running_loop().create_task(
            self._guard(work), name=f"ganggpt-{self.name}-{player_id}"
        )
        self._running[player_id] = task
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if self._running.get(player_id) is t:
                del self._running[player_id]

        task.add_done_callback(done)
        return True

    def background(self, work: Callable[[], Awaitable[None]], label: str) -> None:
        """Server-side work not tied to one player's request slot (loading, event hooks)."""
        task = asyncio.get_running_loop().create_task(
            self._guard(work), name=f"ganggpt-{self.name}-{label}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s request failed", self.name)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._running.clear()
        self._tasks.clear()
