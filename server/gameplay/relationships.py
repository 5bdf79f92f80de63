"""What each NPC thinks of each player: affinity (liking) and trust, -100..100, stored per
NPC key and player (`npc_relationships`), moved by conversation outcomes and actions.

The amounts (affinity, trust) per reason, clamped to -100..100 after each change:

    conversation outcomes       friendly +3/+1   neutral 0/0   rude -4/-2   threat -10/-6
    actions                     gift +6/+3       paid +2/+4    helped +8/+6
                                mission_done +5/+10            mission_failed -3/-8
                                attacked -40/-30               faction_mate_killed -25/-20
                                betrayed -30/-50

Trust moves slower with talk than with deeds on purpose: a player cannot chat an NPC into
trusting them, they have to do something. Every conversation also counts one more
`conversations`, which the prompt shows ("known face" rather than "stranger").

Changes to one (NPC, player) pair are serialised in this process (read, add, write under one
lock), and the write is an absolute value ordered by time in storage, so a replayed or late
write never moves a relationship back.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

from cachetools import LRUCache

from server.ai.context import Relationship
from server.gameplay.events import GameplayEvent
from server.gameplay.memory import MemoryMetrics
from server.persistence.models import NpcRelationship
from server.persistence.repos import NpcRelationshipRepository

AMOUNTS: dict[str, tuple[int, int]] = {
    "friendly": (3, 1),
    "neutral": (0, 0),
    "rude": (-4, -2),
    "threat": (-10, -6),
    "gift": (6, 3),
    "paid": (2, 4),
    "helped": (8, 6),
    "mission_done": (5, 10),
    "mission_failed": (-3, -8),
    "attacked": (-40, -30),
    "faction_mate_killed": (-25, -20),
    "betrayed": (-30, -50),
}
"""(affinity, trust) change per reason; see the module docstring."""

CONVERSATION_OUTCOMES = frozenset(("friendly", "neutral", "rude", "threat"))


@dataclass(frozen=True, slots=True, kw_only=True)
class NpcRelationshipChanged(GameplayEvent):
    npc_key: str
    player_id: str
    reason: str
    affinity: int
    trust: int
    previous_affinity: int
    previous_trust: int


def clamp(v: int) -> int:
    return min(max(int(v), -100), 100)


def for_prompt(rel: NpcRelationship) -> Relationship:
    """The AI layer's view (trust and how often they talked)."""
    return Relationship(trust=rel.trust, conversations=rel.conversations)


def mood(rel: NpcRelationship, default: str = "calm") -> str:
    """The NPC's mood towards this player, from affinity (the prompt's `Mood:`)."""
    if rel.affinity <= -60:
        return "hostile"
    if rel.affinity <= -20:
        return "wary"
    if rel.affinity >= 60:
        return "warm"
    if rel.affinity >= 20:
        return "friendly"
    return default


class RelationshipService:
    def __init__(
        self,
        repo: NpcRelationshipRepository,
        *,
        metrics: MemoryMetrics | None = None,
        emit: Callable[[GameplayEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 50_000,
    ) -> None:
        self.repo = repo
        self.metrics = metrics or MemoryMetrics()
        self.emit = emit
        self.clock = clock
        # Latest value this process wrote or read, so the next talk needs no read.
        self._known: LRUCache[tuple[str, str], NpcRelationship] = LRUCache(maxsize=cache_size)
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def get(self, npc_key: str, player_id: str) -> NpcRelationship:
        """The relationship (all zero for strangers)."""
        key = (npc_key, player_id)
        known = self._known.get(key)
        if known is not None:
            return known
        got = await self.repo.get(npc_key, player_id)
        rel = got if got is not None else NpcRelationship(npc_key, player_id)
        self._known[key] = rel
        return rel

    async def set(
        self, npc_key: str, player_id: str, *, affinity: int, trust: int | None = None
    ) -> NpcRelationship:
        """Set the values outright (the admin console's `npcs.edit`); durable when it returns."""
        key = (npc_key, player_id)
        async with self._lock(key):
            old = await self.get(npc_key, player_id)
            new = replace(
                old,
                affinity=clamp(affinity),
                trust=old.trust if trust is None else clamp(trust),
                updated_at=max(self.clock(), old.updated_at),
            )
            await self.repo.save(new)
            self._known[key] = new
        return new

    async def change(
        self,
        npc_key: str,
        player_id: str,
        reason: str,
        *,
        conversation: bool = False,
        scale: float = 1.0,
    ) -> NpcRelationship:
        """Apply the documented amounts of `reason` (x `scale`, e.g. 0.5 for a rumour of it),
        plus one conversation when `conversation`; durable when it returns."""
        if reason not in AMOUNTS:
            raise ValueError(f"unknown relationship reason {reason!r}; one of {sorted(AMOUNTS)}")
        da, dt = AMOUNTS[reason]
        key = (npc_key, player_id)
        async with self._lock(key):
            old = await self.get(npc_key, player_id)
            new = replace(
                old,
                affinity=clamp(old.affinity + round(da * scale)),
                trust=clamp(old.trust + round(dt * scale)),
                conversations=old.conversations + (1 if conversation else 0),
                updated_at=max(self.clock(), old.updated_at),
            )
            await self.repo.save(new)
            self._known[key] = new
        self.metrics.relationship_changes.labels(reason).inc()
        if self.emit is not None and (new.affinity, new.trust) != (old.affinity, old.trust):
            self.emit(
                NpcRelationshipChanged(
                    at=new.updated_at,
                    npc_key=npc_key,
                    player_id=player_id,
                    reason=reason,
                    affinity=new.affinity,
                    trust=new.trust,
                    previous_affinity=old.affinity,
                    previous_trust=old.trust,
                )
            )
        return new
