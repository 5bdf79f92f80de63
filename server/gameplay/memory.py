"""NPC memory: what each NPC witnessed, was told or said, and how it fades.

Rules this module keeps:

- **Keyed by the NPC's stable key** (`world.identity(nid).key`: `npc:<seed>:<slot>`,
  `pin:<id>`, `spawn:<seed>:<n>`, or `companion:<id>`), never by its net id: net ids are
  reused after a despawn, and a memory must not pass to whoever gets the id next.
- **An NPC recalls only what it witnessed or was told.** A memory row belongs to one NPC;
  an event becomes one row per witness (the nearest `NPC_WITNESS_MAX` living NPCs within
  `NPC_WITNESS_RADIUS`), a rumour one row per listener (rumours.py), a conversation one
  row for the NPC spoken to. Recall reads that NPC's rows only.
- **Nothing here waits on I/O on the tick path.** `witness` reads the world's arrays
  (vectorised with numpy, no await inside the read) and queues rows through the
  write-behind (`repos.npc_memory.add`, never blocking); call it between ticks, on the
  loop. Recall and upkeep are `async` and run off the tick.
- **Nothing is silently dropped.** Recall hands every candidate to the AI layer's
  `select_memories`, which counts what did not fit the token budget (`left_out`); a row
  the write queue refused is counted in `ganggpt_npc_memories_dropped_total`.

Memory content (JSON) always holds `text`, the sentence the prompt shows (written in the
NPC's voice when it is made, so recall needs no templates), plus structured fields per type:
`conversation` (player_said, npc_said, outcome, player_name), `event` (event, summary, x, y),
`rumour` (event, summary, told_by, told_by_name).

Decay (a periodic job, `MemoryService.run`): once per game day (24 x NPC_MEMORY_HOUR_SECONDS)
every memory older than a game day has its weight multiplied by NPC_MEMORY_DECAY (rounded
down, never below NPC_MEMORY_DECAY_FLOOR). With the defaults (0.98, floor 5, 48-minute days)
a weight of 80 is 64 after 11 game days (about 9 real hours) and 40 after 35 (28 hours).
The same job deletes expired memories (each gets NPC_MEMORY_TTL_DAYS real days) and those
older than NPC_MEMORY_RETENTION_MONTHS whole months (PostgreSQL drops those monthly
partitions instead of deleting rows).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from cachetools import LRUCache
from prometheus_client import CollectorRegistry, Counter

from config.settings import Config
from server.ai.context import Memory
from server.ai.memory import MemorySelection, select_memories
from server.gameplay.events import GameplayEvent
from server.persistence.models import NpcMemory
from server.persistence.repos import Repositories

if TYPE_CHECKING:
    from server.gameplay.rumours import RumourMill
    from server.world.world import World

log = logging.getLogger("ganggpt.gameplay.memory")

TEXT_LIMIT = 240  # characters of what a player or NPC said kept in a memory
FRESH_PER_NPC = 8  # memories per NPC kept in process until storage surely has them


class MemoryMetrics:
    """Counters of the memory, rumour, relationship and companion services (one registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.written = Counter(
            "ganggpt_npc_memories_written_total",
            "NPC memories queued for storage, by type (conversation, event, rumour...).",
            ["type"],
            registry=r,
        )
        self.dropped = Counter(
            "ganggpt_npc_memories_dropped_total",
            "NPC memories not stored because the write queue was full.",
            registry=r,
        )
        self.upkeep = Counter(
            "ganggpt_npc_memory_upkeep_total",
            "Memories changed by upkeep: decayed (weight lowered) or pruned (deleted).",
            ["action"],
            registry=r,
        )
        self.rumours = Counter(
            "ganggpt_rumours_total",
            "Rumour attempts by outcome (spread, rate_limited, no_faction, no_listeners).",
            ["outcome"],
            registry=r,
        )
        self.rumour_listeners = Counter(
            "ganggpt_rumour_listeners_total",
            "NPCs that were told a rumour.",
            registry=r,
        )
        self.relationship_changes = Counter(
            "ganggpt_npc_relationship_changes_total",
            "NPC-player relationship changes by reason.",
            ["reason"],
            registry=r,
        )
        self.companions = Counter(
            "ganggpt_companion_actions_total",
            "Companion actions by action (summon, dismiss, recall, rename, treat) and result.",
            ["action", "result"],
            registry=r,
        )


@dataclass(frozen=True, slots=True)
class MemorySettings:
    hour_seconds: float = 120.0
    decay: float = 0.98
    decay_floor: int = 5
    ttl_days: float = 30.0
    retention_months: int = 6
    candidates: int = 40
    witness_radius: float = 30.0
    witness_max: int = 16

    @property
    def day_seconds(self) -> float:
        return 24.0 * self.hour_seconds

    @staticmethod
    def from_config(c: Config) -> MemorySettings:
        return MemorySettings(
            c.npc_memory_hour_seconds,
            c.npc_memory_decay,
            c.npc_memory_decay_floor,
            c.npc_memory_ttl_days,
            c.npc_memory_retention_months,
            c.npc_memory_candidates,
            c.npc_witness_radius,
            c.npc_witness_max,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NotableEvent:
    """Something that happened in the world that NPCs nearby will remember.

    `summary` is a short third-person sentence ("Nico shot a Ballas member outside the
    bar"); `player_id` the player it is about (None for a world event); `weight` 0-100 how
    much it matters to a witness; `actor_nid` an NPC that did it (it is not its own witness).
    """

    kind: str
    summary: str
    x: float
    y: float
    player_id: str | None = None
    weight: int = 60
    actor_nid: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventWitnessed(GameplayEvent):
    """NPCs remembered an event (`witnesses`: their stable keys) and told `told` others."""

    kind: str
    player_id: str | None
    witnesses: tuple[str, ...]
    told: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Upkeep:
    decayed: int
    pruned: int
    cutoff: float | None  # memories created before this were deleted (retention)


def nearest_npcs(
    world: World,
    x: float,
    y: float,
    radius: float,
    limit: int,
    exclude: Iterable[int] = (),
) -> list[int]:
    """Net ids of the living NPCs within `radius` of (x, y), nearest first, at most `limit`.

    One vectorised pass over `world.npcs.x/y` (10,000 NPCs: tens of microseconds); synchronous,
    so it sees one consistent tick when called between ticks."""
    npcs = world.npcs
    if npcs.n == 0 or limit <= 0:
        return []
    d2 = (npcs.x - x) ** 2 + (npcs.y - y) ** 2
    ok = npcs.alive & (d2 <= radius * radius)
    skip = [nid - npcs.first_id for nid in exclude]
    skip = [i for i in skip if 0 <= i < npcs.n]
    if skip:
        ok[np.asarray(skip, dtype=np.intp)] = False
    idx = np.flatnonzero(ok)
    if idx.size > limit:
        part = np.argpartition(d2[idx], limit - 1)[:limit]
        idx = idx[part]
    idx = idx[np.argsort(d2[idx], kind="stable")]
    return [int(i) + npcs.first_id for i in idx]


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def retention_cutoff(now: float, months: int) -> float | None:
    """Start (UTC) of the month `months` before the current one; None when `months` is 0.

    Month-aligned, so PostgreSQL can drop whole partitions: with 6 in mid-November, everything
    created before 1 May goes."""
    if months <= 0:
        return None
    d = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    total = d.year * 12 + (d.month - 1) - months
    return dt.datetime(total // 12, total % 12 + 1, 1, tzinfo=dt.UTC).timestamp()


class MemoryService:
    """Writes, recalls and ages NPC memories; see the module docstring for the rules."""

    def __init__(
        self,
        repos: Repositories,
        settings: MemorySettings | None = None,
        *,
        rumours: RumourMill | None = None,
        metrics: MemoryMetrics | None = None,
        emit: Callable[[GameplayEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        fresh_npcs: int = 10_000,
    ) -> None:
        self.repos = repos
        self.s = settings or MemorySettings()
        self.rumours = rumours
        self.metrics = metrics or MemoryMetrics()
        self.emit = emit
        self.clock = clock
        # What this process wrote lately per NPC: the write-behind may not have stored it yet
        # when the same player talks again a second later, and recall must already know it.
        self._fresh: LRUCache[str, deque[NpcMemory]] = LRUCache(maxsize=fresh_npcs)

    # --- writing (never waits) ---------------------------------------------------------
    def remember(
        self,
        npc_key: str,
        memory_type: str,
        text: str,
        *,
        player_id: str | None = None,
        weight: int = 50,
        data: dict[str, Any] | None = None,
        ttl_seconds: float | None = None,
    ) -> str | None:
        """Queue one memory for `npc_key`; its id, or None when the write queue was full
        (counted). `text` is what the prompt will show, in the NPC's voice."""
        weight = min(max(int(weight), 0), 100)
        ttl = self.s.ttl_days * 86400.0 if ttl_seconds is None else ttl_seconds
        expires = self.clock() + ttl if ttl > 0 else None
        content = {**(data or {}), "text": clip(text, 2 * TEXT_LIMIT)}
        mid = self.repos.npc_memory.add(
            npc_key,
            memory_type[:50],
            content,
            player_id=player_id,
            emotional_weight=weight,
            expires_at=expires,
        )
        if mid is None:
            self.metrics.dropped.inc()
            return None
        self.metrics.written.labels(memory_type[:50]).inc()
        ring = self._fresh.get(npc_key)
        if ring is None:
            ring = deque(maxlen=FRESH_PER_NPC)
            self._fresh[npc_key] = ring
        ring.append(
            NpcMemory(
                mid, npc_key, player_id, memory_type[:50], content, weight, self.clock(), expires
            )
        )
        return mid

    async def edit(
        self,
        npc_key: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        """Change one memory (the admin console), stored and in this process's recent ones;
        False if neither has it. A memory still queued for storage is changed only here."""
        if weight is not None:
            weight = min(max(int(weight), 0), 100)
        stored = await self.repos.npc_memory.edit(
            npc_key, memory_id, weight=weight, content=content
        )
        fresh = False
        ring = self._fresh.get(npc_key)
        for i, m in enumerate(ring or ()):
            if m.memory_id == memory_id and ring is not None:
                ring[i] = replace(
                    m,
                    emotional_weight=m.emotional_weight if weight is None else weight,
                    content=m.content if content is None else content,
                )
                fresh = True
        return stored or fresh

    async def forget(self, npc_key: str, memory_id: str) -> bool:
        """Delete one memory (the admin console); False if it was not found."""
        stored = await self.repos.npc_memory.delete(npc_key, memory_id)
        ring = self._fresh.get(npc_key)
        fresh = False
        if ring is not None:
            keep = [m for m in ring if m.memory_id != memory_id]
            fresh = len(keep) != len(ring)
            ring.clear()
            ring.extend(keep)
        return stored or fresh

    def witness(self, world: World, event: NotableEvent) -> EventWitnessed:
        """Every NPC near `event` remembers it; witnesses with a faction may tell faction-mates
        (rumours). Synchronous: reads the world once, between ticks, and only queues writes."""
        exclude = [] if event.actor_nid is None else [event.actor_nid]
        nids = nearest_npcs(
            world, event.x, event.y, self.s.witness_radius, self.s.witness_max, exclude
        )
        summary = clip(event.summary)
        data = {
            **event.data,
            "event": event.kind,
            "summary": summary,
            "x": round(event.x, 1),
            "y": round(event.y, 1),
        }
        keys: list[str] = []
        for nid in nids:
            ident = world.identity(nid)
            if ident is None:  # pragma: no cover - nearest_npcs returns living NPCs
                continue
            self.remember(
                ident.key,
                "event",
                f"I saw it myself: {summary}",
                player_id=event.player_id,
                weight=event.weight,
                data=data,
            )
            keys.append(ident.key)
        told: list[str] = []
        if self.rumours is not None:
            heard = set(nids) | set(exclude)
            for nid in nids:
                got = self.rumours.spread(world, self, nid, event, skip=heard)
                heard.update(got.nids)
                told.extend(got.keys)
        out = EventWitnessed(
            at=self.clock(),
            kind=event.kind,
            player_id=event.player_id,
            witnesses=tuple(keys),
            told=tuple(told),
        )
        if self.emit is not None and keys:
            self.emit(out)
        return out

    # --- recall (off the tick) -----------------------------------------------------------
    async def candidates(self, npc_key: str, player_id: str | None) -> list[NpcMemory]:
        """What this NPC might bring up with this player: its newest memories about the player,
        its newest overall and its weightiest overall, without duplicates, at most
        NPC_MEMORY_CANDIDATES. (Rows past that are older and lighter than every row fetched on
        both counts; the AI layer counts whatever of these does not fit the budget.)"""
        n = self.s.candidates
        repo = self.repos.npc_memory
        about: list[NpcMemory] = []
        if player_id is not None:
            about = await repo.recent(npc_key, player_id, n)
        # Never exactly 20: the persistence caches an NPC's latest 20 and would not show decay.
        newest = await repo.recent(npc_key, None, 21 if n == 20 else n)
        heavy = await repo.important(npc_key, None, n)
        now = self.clock()
        fresh = [
            m for m in self._fresh.get(npc_key, ()) if m.expires_at is None or m.expires_at > now
        ]
        out: dict[str, NpcMemory] = {}
        for group in (about, newest, heavy, fresh):  # stored rows win: they carry decay
            for m in group:
                out.setdefault(m.memory_id, m)
        return sorted(out.values(), key=lambda m: m.created_at, reverse=True)[:n]

    def as_prompt_memory(self, m: NpcMemory, now: float | None = None) -> Memory:
        """The AI layer's view of a stored memory: its text, weight and age in game hours."""
        now = self.clock() if now is None else now
        text = m.content.get("text") if isinstance(m.content, dict) else None
        if not isinstance(text, str) or not text:
            text = str(m.content)[:TEXT_LIMIT]
        return Memory(
            memory_id=m.memory_id,
            text=text,
            weight=m.emotional_weight,
            age_hours=max(now - m.created_at, 0.0) / self.s.hour_seconds,
            kind=m.memory_type,
        )

    async def prompt_memories(self, npc_key: str, player_id: str | None) -> tuple[Memory, ...]:
        """Every candidate, as the AI layer's `Memory`, for `DialogueContext.memories`:
        `AiService.talk_stream` scores them and packs them under AI_MEMORY_TOKEN_BUDGET."""
        now = self.clock()
        return tuple(
            self.as_prompt_memory(m, now) for m in await self.candidates(npc_key, player_id)
        )

    async def recall(
        self,
        npc_key: str,
        player_id: str | None,
        query: str,
        budget_tokens: int,
        query_embedding: Sequence[float] | None = None,
    ) -> MemorySelection:
        """The memories that would go into a prompt about `query`, and how many were left out."""
        mems = await self.prompt_memories(npc_key, player_id)
        return select_memories(mems, query, budget_tokens, query_embedding)

    # --- upkeep (a periodic job) ---------------------------------------------------------
    async def upkeep(self, now: float | None = None) -> Upkeep:
        """One round: prune expired and too old memories, decay those older than a game day."""
        now = self.clock() if now is None else now
        repo = self.repos.npc_memory
        cutoff = retention_cutoff(now, self.s.retention_months)
        pruned = await repo.prune(now, cutoff)
        decayed = 0
        if self.s.decay < 1.0:
            decayed = await repo.decay(self.s.decay, self.s.decay_floor, now - self.s.day_seconds)
        self.metrics.upkeep.labels("decayed").inc(decayed)
        self.metrics.upkeep.labels("pruned").inc(pruned)
        return Upkeep(decayed, pruned, cutoff)

    async def run(self) -> None:
        """Upkeep once per game day until cancelled (start it as a task at server start)."""
        while True:
            await asyncio.sleep(self.s.day_seconds)
            try:
                done = await self.upkeep()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the database may be down: try again next game day
                log.warning("memory upkeep failed: %s", err)
                continue
            log.info("memory upkeep: %d decayed, %d pruned", done.decayed, done.pruned)
