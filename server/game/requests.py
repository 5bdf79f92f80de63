"""Player requests that need storage (factions, companions): one at a time per player, in the
order sent, each on a task of its own, never on the tick.

Why one at a time: a request reads, checks the rules, then writes; a client that sends the
same `join` ten times must not get ten interleaved read-check-writes. Why a short queue: the
answer (an event) goes out before the request's last storage read is over, so a client that
acts on it at once would otherwise find the player still busy. Bounded: at most PENDING
requests of one player wait or run; more are refused (`busy`) by the caller, which knows how
to say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("ganggpt.requests")


PENDING = 4  # requests of one player waiting or running


class PlayerRequests:
    def __init__(self, name: str, pending: int = PENDING) -> None:
        self.name = name
        self.pending = pending
        # player id -> that player's requests not finished yet, oldest first
        self._queued: dict[str, list[asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def busy(self, player_id: str) -> bool:
        return len(self._queued.get(player_id, ())) >= self.pending

    def run(self, player_id: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Queue `work()` for this player, after its earlier requests; False (nothing queued)
        when PENDING of them are waiting or running already."""
        queue = self._queued.setdefault(player_id, [])
        if len(queue) >= self.pending:
            return False
        before = queue[-1] if queue else None
        task = asyncio.get_running_loop().create_task(
            self._after(before, work), name=f"ganggpt-{self.name}-{player_id}"
        )
        queue.append(task)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            q = self._queued.get(player_id)
            if q is not None:
                with contextlib.suppress(ValueError):
                    q.remove(t)
                if not q:
                    del self._queued[player_id]

        task.add_done_callback(done)
        return True

    async def _after(
        self, before: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        if before is not None:
            # Its outcome is its own (logged by its guard); only its end matters here.
            await asyncio.wait((before,))
        await self._guard(work)

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
        self._queued.clear()
        self._tasks.clear()
