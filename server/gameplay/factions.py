"""Factions: membership with ranks, and relationships between factions that events shift.

Ranks, lowest to highest: recruit, member, officer, leader (`RANKS`). The rules:

- `create` needs the `create:faction` permission; the creator must be in no faction and
  becomes its leader. Names are slugs (`[a-z0-9_]`, 2-40 characters).
- `join`: anyone not in a faction joins an existing one as recruit (leave the old one first).
- `leave`: anyone, except a leader while other members remain (hand over first).
- `promote` / `demote` / `kick` need an officer or the leader, acting on a member of the same
  faction ranked strictly below them. Promotion goes one rank up and never to the actor's own
  rank, except that the leader promoting an officer hands over the leadership (the actor
  becomes an officer). Demotion goes one rank down, not below recruit.

Relationships (strength -100..100, stored once per pair in sorted order) move by
`EventImpacts`: a member of A killed by a member of B shifts A/B by `member_killed` (-8);
a completed mission shifts (the player's faction, or the giver's, / target) by the spec's
faction impact delta (-20..20, see server/gameplay/missions.py). The stance (war, hostile,
neutral, friendly, allied) follows with hysteresis (server/persistence/stance.py):
war at <= -60 and over only above -40; allied at >= 60 and over only below 40.

State is cached under `faction:{name}:state` by the persistence (tiered cache, deleted on
every change made here). Every change is emitted as a `FactionChanged` or
`RelationshipChanged` event after it is durable.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

from server.gameplay.events import Emit, FactionChanged, RelationshipChanged
from server.gameplay.metrics import GameplayMetrics
from server.persistence.models import FactionState, Membership
from server.persistence.repos import Repositories
from server.persistence.stance import (
    DEFAULT_RULE,
    StanceRule,
    canonical_pair,
    clamp_strength,
    stance_after,
)

RANKS: tuple[str, ...] = ("recruit", "member", "officer", "leader")
CREATE_PERMISSION = "create:faction"
_NAME = re.compile(r"^[a-z0-9_]{2,40}$")


def rank_level(rank: str) -> int:
    """Position of `rank` in RANKS; an unknown rank (set by hand) counts as member."""
    try:
        return RANKS.index(rank)
    except ValueError:
        return 1


@dataclass(frozen=True, slots=True)
class EventImpacts:
    """How much events shift a relationship (documented game rule; tune per server)."""

    member_killed: int = -8


@dataclass(frozen=True, slots=True)
class Relation:
    faction_a: str
    faction_b: str
    strength: int
    stance: str


class FactionError(Exception):
    """A faction request the rules refuse; `code` is the documented error code.

    Codes: forbidden (missing create:faction), bad_name, exists, unknown_faction,
    already_member, not_member, not_same_faction, rank (actor's rank too low), top_rank,
    bottom_rank, leader_must_hand_over, self.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FactionService:
    """Faction rules over `repos.factions`; one per server, called from the game's handlers."""

    def __init__(
        self,
        repos: Repositories,
        emit: Emit,
        metrics: GameplayMetrics,
        *,
        rule: StanceRule = DEFAULT_RULE,
        impacts: EventImpacts = EventImpacts(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repos = repos
        self.emit = emit
        self.metrics = metrics
        self.rule = rule
        self.impacts = impacts
        self.clock = clock
        # One membership change per faction at a time in this process: the rank checks
        # read, then write.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def _refuse(self, code: str, message: str) -> FactionError:
        self.metrics.faction_rejected.labels(code).inc()
        return FactionError(code, message)

    def _changed(
        self, faction: str, change: str, player_id: str, actor_id: str, rank: str | None
    ) -> None:
        self.metrics.faction_events.labels(change).inc()
        self.emit(
            FactionChanged(
                at=self.clock(),
                faction=faction,
                change=change,
                player_id=player_id,
                actor_id=actor_id,
                rank=None if rank is None else rank_level(rank),
            )
        )

    # --- reads ---
    async def state(self, name: str) -> FactionState | None:
        """The faction as cached under `faction:{name}:state` (members count, relationships)."""
        return await self.repos.factions.state(name)

    async def members(self, name: str) -> list[Membership]:
        return await self.repos.factions.members(name)

    async def membership(self, player_id: str) -> Membership | None:
        return await self.repos.factions.membership(player_id)

    async def relationship(self, faction_a: str, faction_b: str) -> Relation:
        """Strength and stance of a pair (0 / neutral when nothing happened between them)."""
        a, b = canonical_pair(faction_a, faction_b)
        state = await self.repos.factions.state(a)
        for r in state.relationships if state else ():
            if (r.faction_a, r.faction_b) == (a, b):
                return Relation(a, b, r.strength, r.relationship_type)
        return Relation(a, b, 0, "neutral")

    async def prompt_lines(self, name: str) -> tuple[str, ...]:
        """How `name` stands with the others, one short line each (for NPC prompts)."""
        state = await self.repos.factions.state(name)
        lines = []
        for r in state.relationships if state else ():
            other = r.faction_b if r.faction_a == name else r.faction_a
            lines.append(f"{name} is {r.relationship_type} with {other} ({r.strength:+d})")
        return tuple(lines)

    # --- membership ---
    async def create(
        self,
        player_id: str,
        name: str,
        display_name: str | None = None,
        *,
        permissions: Collection[str],
    ) -> FactionState:
        if CREATE_PERMISSION not in permissions:
            raise self._refuse("forbidden", f"creating a faction needs {CREATE_PERMISSION}")
        if not _NAME.match(name):
            raise self._refuse("bad_name", "faction names are 2-40 of a-z, 0-9 and _")
        async with self._lock(name):
            if await self.repos.factions.state(name) is not None:
                raise self._refuse("exists", f"faction {name} exists")
            if await self.repos.factions.membership(player_id) is not None:
                raise self._refuse("already_member", "leave your faction first")
            await self.repos.factions.create(name, (display_name or name)[:100])
            await self.repos.factions.join(player_id, name, "leader")
        self._changed(name, "created", player_id, player_id, "leader")
        state = await self.repos.factions.state(name)
        assert state is not None
        return state

    async def join(self, player_id: str, name: str) -> Membership:
        if await self.repos.factions.state(name) is None:
            raise self._refuse("unknown_faction", f"no faction {name}")
        async with self._lock(name):
            if await self.repos.factions.membership(player_id) is not None:
                raise self._refuse("already_member", "leave your faction first")
            await self.repos.factions.join(player_id, name, RANKS[0])
        self._changed(name, "joined", player_id, player_id, RANKS[0])
        m = await self.repos.factions.membership(player_id)
        assert m is not None
        return m

    async def leave(self, player_id: str) -> None:
        m = await self._member(player_id)
        async with self._lock(m.faction):
            if rank_level(m.rank) == len(RANKS) - 1:
                others = [x for x in await self.members(m.faction) if x.player_id != player_id]
                if others:
                    raise self._refuse(
                        "leader_must_hand_over", "promote an officer to leader before leaving"
                    )
            await self.repos.factions.leave(player_id)
        self._changed(m.faction, "left", player_id, player_id, None)

    async def promote(self, actor_id: str, target_id: str) -> Membership:
        actor, target = await self._pair(actor_id, target_id)
        a, t = rank_level(actor.rank), rank_level(target.rank)
        leader = len(RANKS) - 1
        async with self._lock(actor.faction):
            if a == leader and t == leader - 1:
                # Hand over: the new leader first, so the faction never has none.
                await self.repos.factions.join(target_id, actor.faction, RANKS[leader])
                await self.repos.factions.join(actor_id, actor.faction, RANKS[leader - 1])
                self._changed(actor.faction, "promoted", target_id, actor_id, RANKS[leader])
                self._changed(actor.faction, "demoted", actor_id, actor_id, RANKS[leader - 1])
                return await self._member(target_id)
            if t + 1 >= a:
                raise self._refuse("rank", "you can only promote below your own rank")
            await self.repos.factions.join(target_id, actor.faction, RANKS[t + 1])
        self._changed(actor.faction, "promoted", target_id, actor_id, RANKS[t + 1])
        return await self._member(target_id)

    async def demote(self, actor_id: str, target_id: str) -> Membership:
        actor, target = await self._pair(actor_id, target_id)
        t = rank_level(target.rank)
        if t == 0:
            raise self._refuse("bottom_rank", "a recruit cannot be demoted")
        async with self._lock(actor.faction):
            await self.repos.factions.join(target_id, actor.faction, RANKS[t - 1])
        self._changed(actor.faction, "demoted", target_id, actor_id, RANKS[t - 1])
        return await self._member(target_id)

    async def kick(self, actor_id: str, target_id: str) -> None:
        actor, _ = await self._pair(actor_id, target_id)
        async with self._lock(actor.faction):
            await self.repos.factions.leave(target_id)
        self._changed(actor.faction, "kicked", target_id, actor_id, None)

    async def _member(self, player_id: str) -> Membership:
        m = await self.repos.factions.membership(player_id)
        if m is None:
            raise self._refuse("not_member", "not in a faction")
        return m

    async def _pair(self, actor_id: str, target_id: str) -> tuple[Membership, Membership]:
        """Actor and target for a rank action, checked: same faction, actor an officer or
        the leader, and ranked above the target."""
        if actor_id == target_id:
            raise self._refuse("self", "not on yourself")
        actor = await self._member(actor_id)
        target = await self.repos.factions.membership(target_id)
        if target is None or target.faction != actor.faction:
            raise self._refuse("not_same_faction", "the player is not in your faction")
        a, t = rank_level(actor.rank), rank_level(target.rank)
        if a < RANKS.index("officer") or a <= t:
            raise self._refuse("rank", "your rank is too low for that")
        return actor, target

    # --- relationships ---
    async def shift(
        self,
        faction_a: str,
        faction_b: str,
        delta: int,
        *,
        reason: str,
        event_id: str | None = None,
    ) -> RelationshipChanged | None:
        """Move a relationship by `delta` (durable, once per `event_id`) and emit the change;
        None when nothing moved (a repeated event id, or already at the limit)."""
        # One shift of a pair at a time: two reports of the same kill read "before" together,
        # and the one the storage ignores would otherwise announce the other's change.
        async with self._lock("|".join(canonical_pair(faction_a, faction_b))):
            before = await self.relationship(faction_a, faction_b)
            await self.repos.factions.shift_relationship(
                faction_a, faction_b, delta, reason=reason, event_id=event_id, rule=self.rule
            )
            after = await self.relationship(faction_a, faction_b)
        if after == before:
            return None
        return self.announce(before, after, reason)

    async def set_relationship(
        self, faction_a: str, faction_b: str, strength: int, *, reason: str = "admin"
    ) -> Relation:
        """Set a relationship outright (the admin console); the stance follows the strength
        with the same hysteresis, and the change is emitted like any shift."""
        async with self._lock("|".join(canonical_pair(faction_a, faction_b))):
            before = await self.relationship(faction_a, faction_b)
            value = clamp_strength(strength)
            x, y = canonical_pair(faction_a, faction_b)
            await self.repos.factions.set_relationship(
                x, y, stance_after(before.stance, value, self.rule), value
            )
            after = await self.relationship(faction_a, faction_b)
        if after != before:
            self.announce(before, after, reason)
        return after

    def announce(self, before: Relation, after: Relation, reason: str) -> RelationshipChanged:
        """Count and emit a relationship change already applied (also used by missions)."""
        event = RelationshipChanged(
            at=self.clock(),
            faction_a=after.faction_a,
            faction_b=after.faction_b,
            strength=after.strength,
            previous_strength=before.strength,
            stance=after.stance,
            previous_stance=before.stance,
            reason=reason,
        )
        self.metrics.relationship_changes.labels(reason).inc()
        self.metrics.faction_events.labels("relationship").inc()
        if event.stance_changed:
            self.metrics.stance_changes.labels(event.stance).inc()
        self.emit(event)
        return event

    async def member_killed(
        self, victim_faction: str, killer_faction: str, *, event_id: str
    ) -> RelationshipChanged | None:
        """A member of `victim_faction` was killed by a member of `killer_faction`. `event_id`
        names the kill (e.g. "kill:{victim}:{tick}") so a repeated report shifts once."""
        if victim_faction == killer_faction:
            return None
        return await self.shift(
            victim_faction,
            killer_faction,
            self.impacts.member_killed,
            reason="member_killed",
            event_id=event_id,
        )
