"""Rumours: an NPC tells its faction what a player did, so faction-mates learn it second-hand.

How word spreads, and what bounds it:

- Only an NPC with a faction tells (its identity's faction is not `none`), and only
  faction-mates: the nearest living NPCs of the same faction within RUMOUR_RADIUS metres,
  at most RUMOUR_FANOUT of them. Who they are is decided from the world's arrays in one
  vectorised pass, then the identities of at most SCAN_FACTOR x fan-out nearest NPCs are
  looked at (bounded work per rumour, whatever the world's size).
- One hop: a listener remembers the rumour but does not pass it on by itself (the
  integrator may call `spread` again, e.g. when a listener's AI reply shares a rumour).
- Rate: the same NPC spreads at most one rumour per RUMOUR_INTERVAL seconds; more are
  refused and counted (`ganggpt_rumours_total{outcome="rate_limited"}`).
- Each listener gets a memory of type `rumour` with `told_by` (the teller's stable key),
  `told_by_name`, the summary, and a lower weight: the witness's weight x
  RUMOUR_WEIGHT_FACTOR (second-hand news matters less).
- Whoever witnessed the event itself, or was already told this round, is not told again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import TTLCache

from config.settings import Config
from server.gameplay.memory import MemoryService, NotableEvent, clip, nearest_npcs

if TYPE_CHECKING:
    from server.world.world import World

SCAN_FACTOR = 8  # identities looked at per listener wanted
NO_FACTION = frozenset(("", "none"))


@dataclass(frozen=True, slots=True)
class RumourSettings:
    fanout: int = 4
    radius: float = 250.0
    interval: float = 60.0
    weight_factor: float = 0.6

    @staticmethod
    def from_config(c: Config) -> RumourSettings:
        return RumourSettings(
            c.rumour_fanout, c.rumour_radius, c.rumour_interval, c.rumour_weight_factor
        )


@dataclass(frozen=True, slots=True)
class Told:
    """Who heard a rumour: net ids and stable keys (same order); `outcome` says why not."""

    outcome: str  # spread, rate_limited, no_faction, no_listeners, off
    nids: tuple[int, ...] = ()
    keys: tuple[str, ...] = ()


class RumourMill:
    def __init__(
        self,
        settings: RumourSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tellers: int = 100_000,
    ) -> None:
        self.s = settings or RumourSettings()
        self.clock = clock
        # Last time each teller spread a rumour; bounded, and forgotten once it no longer limits.
        self._last: TTLCache[str, float] = TTLCache(
            maxsize=max_tellers, ttl=max(self.s.interval, 1e-3), timer=clock
        )

    def spread(
        self,
        world: World,
        memory: MemoryService,
        teller_nid: int,
        event: NotableEvent,
        *,
        skip: Iterable[int] = (),
    ) -> Told:
        """NPC `teller_nid` tells its faction-mates nearby about `event`. Synchronous (reads
        the world between ticks, queues the memories without waiting)."""
        outcome = self._spread(world, memory, teller_nid, event, skip)
        memory.metrics.rumours.labels(outcome.outcome).inc()
        memory.metrics.rumour_listeners.inc(len(outcome.keys))
        return outcome

    def _spread(
        self,
        world: World,
        memory: MemoryService,
        teller_nid: int,
        event: NotableEvent,
        skip: Iterable[int],
    ) -> Told:
        if self.s.fanout <= 0:
            return Told("off")
        teller = world.identity(teller_nid)
        if teller is None or teller.faction in NO_FACTION:
            return Told("no_faction")
        now = self.clock()
        if self.s.interval > 0 and teller.key in self._last:
            return Told("rate_limited")
        pos = world.entity_xy(teller_nid)
        if pos is None:  # pragma: no cover - identity() found it alive
            return Told("no_faction")
        excluded = {teller_nid, *skip}
        near = nearest_npcs(
            world, pos[0], pos[1], self.s.radius, self.s.fanout * SCAN_FACTOR, excluded
        )
        nids: list[int] = []
        keys: list[str] = []
        for nid in near:
            ident = world.identity(nid)
            if ident is not None and ident.faction == teller.faction:
                nids.append(nid)
                keys.append(ident.key)
                if len(nids) >= self.s.fanout:
                    break
        if not nids:
            return Told("no_listeners")
        if self.s.interval > 0:
            self._last[teller.key] = now
        summary = clip(event.summary)
        weight = round(event.weight * self.s.weight_factor)
        data = {
            "event": event.kind,
            "summary": summary,
            "told_by": teller.key,
            "told_by_name": teller.name,
        }
        for key in keys:
            memory.remember(
                key,
                "rumour",
                f"{teller.name} told me: {summary}",
                player_id=event.player_id,
                weight=weight,
                data=data,
            )
        return Told("spread", tuple(nids), tuple(keys))
