"""What an NPC does when its reply carries actions: checked against the world, then applied.

The model (or the offline grammar) only proposes; this module decides. Per talk,
`Conversations` binds a `TalkActions` to the player and the NPC and hands it to
`AiService.talk_stream` as the `ActionValidator`: the AI layer types each tool call (unknown
tools and bad arguments never get here) and asks `validate`, off the tick, before the reply's
final event. What passed comes back on the `DialogueReply`; `NpcActions.apply` carries it out
through world commands, `Game.change_money`, the relationship, rumour and mission services,
and publishes one `NpcActed` on the game's event bus per action. The final `npc_say` lists
the actions applied (SPEC.md §4.3). A rejected action is logged and counted in
`ganggpt_npc_actions_total{result="rejected", reason=...}` and never applied.

Checks (`ActionRules`; the reason is the metric's `reason` label):

    every action         once per reply (duplicate: a second give_money in the same breath
                         is a misfire, not generosity); the NPC and the player are still
                         in the world (gone); the NPC is
                         within `reach` metres of the player (too_far); at most `per_player`
                         actions per player and `per_npc` per NPC in `window` seconds
                         (rate_player, rate_npc)
    follow_player        not following this player already (already), nor anyone else
                         (busy); the player has fewer than `max_followers` NPCs following
                         (twice that with the `ai:premium` permission; too_many_followers)
    stop_following       the NPC follows this player (not_following)
    flee                 -
    call_faction         the NPC has a faction (no_faction) that is not the player's
                         (same_faction); up to `backup_count` faction-mates within
                         `backup_radius` chase the player for `backup_seconds`
    share_rumour         the NPC has a faction (no_faction)
    give_money           the NPC trusts the player (trust >= `give_trust`, else distrust); at
                         most `money_per_hour` given to one player by NPCs (money_cap); the
                         amount itself is bounded by the tool's schema (1..1000)
    take_money           the player has the money (balance)
    change_relationship  - (the schema bounds the step to -10..10)
    offer_mission        missions are available (unavailable); the NPC does not distrust the
                         player (distrust); fewer open offers than the service allows
                         (too_many_offers; offers past their time are expired first)

Applying happens right after the reply, on the event loop between ticks: world commands are
queued for the next tick (never awaited), money goes through `Game.change_money` (live state,
then the ledger), a mission offer is generated afterwards in the conversation's task (it may
take a model call) and reaches the player as `event` `mission` (status `offered`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cachetools import TTLCache
from prometheus_client import CollectorRegistry, Counter

from protocol.catalogue import EntityKind
from server.ai.actions import (
    ACTION_MODELS,
    ChangeRelationship,
    GiveMoney,
    OfferMission,
    ProposedAction,
    RejectedAction,
    ShareRumour,
    TakeMoney,
    Verdict,
)
from server.game.events import NpcActed
from server.game.followers import release_followers
from server.game.player import Player
from server.gameplay.memory import MemoryService, NotableEvent, nearest_npcs
from server.gameplay.missions import MissionService
from server.gameplay.relationships import RelationshipService
from server.gameplay.rumours import NO_FACTION, RumourMill
from server.world.commands import Follow, StopAndFace, WalkTo
from server.world.identity import NpcIdentity

if TYPE_CHECKING:
    from server.game.core import Game
    from server.world.world import World

log = logging.getLogger("ganggpt.npc_actions")

# Applied after the reply but not finished with it (a storage write, a mission generation).
DEFERRED = frozenset(("offer_mission", "change_relationship"))


@runtime_checkable
class MissionDesk(Protocol):
    """The game's mission desk, when it has one (`game.missions`): offers a mission from an
    NPC to a player the way a player's own request does, announcing it itself."""

    service: MissionService

    def offer_to(self, player: Player, npc: int, theme: str = "") -> bool: ...


@dataclass(frozen=True, slots=True)
class ActionRules:
    reach: float = 30.0  # metres between NPC and player for any action
    window: float = 60.0  # seconds the rate limits count over
    per_player: int = 6
    per_npc: int = 4
    max_followers: int = 3
    give_trust: int = 20
    money_per_hour: int = 2000
    follow_distance: float = 2.5
    flee_distance: float = 80.0
    flee_speed: float = 6.0
    backup_radius: float = 150.0
    backup_count: int = 4
    backup_speed: float = 5.0
    backup_seconds: float = 60.0  # how long called backup chases the player
    rumour_weight: int = 50


class ActionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.actions = Counter(
            "ganggpt_npc_actions_total",
            "Actions NPC replies carried, by action and result: proposed (by the model or the"
            " offline grammar), applied, rejected (by reason: the server's check, or"
            " bad_arguments / unknown_tool from the AI layer); rejected ones are never applied.",
            ["action", "result", "reason"],
            registry=registry,
        )

    def count(self, action: str, result: str, reason: str = "none") -> None:
        self.actions.labels(action, result, reason).inc()


class _Window:
    """Events per key in a sliding window, bounded in keys (forgotten once idle)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        # Kept twice the window: the window's own arithmetic decides, the TTL only forgets
        # keys long idle (at exactly one window it could drop an event still counted).
        self._seen: TTLCache[str, deque[float]] = TTLCache(
            maxsize=100_000, ttl=max(2 * window, 1e-3), timer=clock
        )

    def full(self, key: str) -> bool:
        q = self._seen.get(key)
        if q is None:
            return False
        cut = self.clock() - self.window
        while q and q[0] <= cut:
            q.popleft()
        return len(q) >= self.limit

    def add(self, key: str) -> None:
        q = self._seen.get(key)
        if q is None:
            q = deque()
        q.append(self.clock())
        self._seen[key] = q  # re-set: the TTL counts from the last event


class NpcActions:
    """One per server: the rules, the limits and the services actions go through."""

    def __init__(
        self,
        game: Game,
        memory: MemoryService,
        relationships: RelationshipService,
        rumours: RumourMill,
        desk: Callable[[], MissionDesk],
        metrics: ActionMetrics,
        rules: ActionRules | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.game = game
        self.memory = memory
        self.relationships = relationships
        self._rumours = rumours
        self.desk = desk
        self.metrics = metrics
        self.rules = r = rules or ActionRules()
        self.clock = clock
        self._by_player = _Window(r.per_player, r.window, clock)
        self._by_npc = _Window(r.per_npc, r.window, clock)
        # Money NPCs gave each player in the last hour (player_id -> (at, amount) ...).
        self._given: TTLCache[str, deque[tuple[float, int]]] = TTLCache(
            maxsize=100_000, ttl=7200.0, timer=clock
        )

    @property
    def rumours(self) -> RumourMill:
        """The server's rumour mill: the memory service's (whoever set it: one mill means one
        rate limit per teller), else this module's own."""
        return self.memory.rumours or self._rumours

    def bind(self, player: Player, npc: int, ident: NpcIdentity) -> TalkActions:
        return TalkActions(self, player, npc, ident)

    # --- money bound ---------------------------------------------------------------------

    def _given_last_hour(self, player_id: str) -> int:
        q = self._given.get(player_id)
        if q is None:
            return 0
        cut = self.clock() - 3600.0
        while q and q[0][0] <= cut:
            q.popleft()
        return sum(a for _, a in q)

    def _record_gift(self, player_id: str, amount: int) -> None:
        q = self._given.get(player_id) or deque()
        q.append((self.clock(), amount))
        self._given[player_id] = q

    # --- after the reply -----------------------------------------------------------------

    def count_reply(
        self, accepted: Sequence[ProposedAction], rejected: Sequence[RejectedAction]
    ) -> None:
        """Count what a reply proposed and what the checks rejected (logged by the AI layer)."""
        for a in accepted:
            self.metrics.count(a.name, "proposed")
        for bad in rejected:
            name = _label(bad.name)
            self.metrics.count(name, "proposed")
            self.metrics.count(name, "rejected", bad.reason)

    def _rejected(self, talk: TalkActions, name: str, reason: str) -> None:
        self.metrics.count(name, "rejected", reason)
        log.info("npc action %s by %s for %s not applied: %s", name, talk.npc, talk.player, reason)

    def apply(self, talk: TalkActions, actions: Sequence[ProposedAction]) -> list[ProposedAction]:
        """Apply what can be applied at once (world, money, rumours); returns the actions
        applied or under way (the deferred ones: `finish` them after the reply is out)."""
        done: list[ProposedAction] = []
        for a in actions:
            if a.name in DEFERRED:
                done.append(a)
                continue
            why = self._apply_now(talk, a)
            if why is None:
                self.metrics.count(a.name, "applied")
                done.append(a)
            else:
                self._rejected(talk, a.name, why)
        return done

    async def finish(self, talk: TalkActions, actions: Sequence[ProposedAction]) -> None:
        """The deferred actions (storage writes, a mission generated by the AI service)."""
        for a in actions:
            if a.name not in DEFERRED:
                continue
            try:
                why = await self._apply_later(talk, a)
            except Exception as err:  # storage or model trouble: the action did not happen
                log.warning("npc action %s failed: %r", a.name, err)
                why = "failed"
            if why is None:
                self.metrics.count(a.name, "applied")
            else:
                self._rejected(talk, a.name, why)

    def _apply_now(self, talk: TalkActions, a: ProposedAction) -> str | None:
        g = self.game
        w = g.state.world
        r = self.rules
        player, npc = talk.player, talk.npc
        detail: dict[str, Any] = {}
        if not talk.present():
            return "gone"
        if a.name == "follow_player":
            if not w.submit(Follow(npc=npc, target=player.nid, distance=r.follow_distance)):
                return "world_busy"
        elif a.name == "stop_following":
            if not w.submit(StopAndFace(npc=npc, target=player.nid)):
                return "world_busy"
        elif a.name == "flee":
            x, y = _away(w, npc, player.nid, r.flee_distance)
            if not w.submit(WalkTo(npc=npc, x=x, y=y, then_wander=True, speed=r.flee_speed)):
                return "world_busy"
        elif a.name == "call_faction":
            mates = self._faction_mates(w, npc, talk.ident)
            for m in mates:
                w.submit(Follow(npc=m, target=player.nid, distance=3.0, speed=r.backup_speed))
            if mates:
                asyncio.get_running_loop().call_later(
                    r.backup_seconds, self._call_off, mates, player.nid
                )
            summary = f"{talk.ident.name} called for backup against {player.name}"
            for m in mates:
                mate = w.identity(m)
                if mate is not None:
                    self.memory.remember(
                        mate.key,
                        "event",
                        summary,
                        player_id=player.player_id,
                        weight=70,
                        data={"event": "call_faction", "caller": talk.ident.key},
                    )
            detail["backup"] = len(mates)
        elif a.name == "give_money":
            assert isinstance(a.args, GiveMoney)
            if not g.change_money(player, a.args.amount, f"gift from {talk.ident.name}"):
                return "balance"
            detail["amount"] = a.args.amount
        elif a.name == "take_money":
            assert isinstance(a.args, TakeMoney)
            if not g.change_money(player, -a.args.amount, f"paid {talk.ident.name}"):
                return "balance"
            detail["amount"] = a.args.amount
        elif a.name == "share_rumour":
            assert isinstance(a.args, ShareRumour)
            pos = w.entity_xy(npc)
            assert pos is not None  # present() checked it
            told = self.rumours.spread(
                w,
                self.memory,
                npc,
                NotableEvent(
                    kind="rumour",
                    summary=a.args.text,
                    x=pos[0],
                    y=pos[1],
                    player_id=player.player_id,
                    weight=r.rumour_weight,
                    actor_nid=npc,
                ),
            )
            if told.outcome != "spread":
                return told.outcome
            detail["listeners"] = len(told.keys)
        else:  # pragma: no cover - the AI layer only passes known actions
            return "unknown_tool"
        g.bus.publish(NpcActed(player, npc, a.name, detail))
        return None

    async def _apply_later(self, talk: TalkActions, a: ProposedAction) -> str | None:
        player = talk.player
        detail: dict[str, Any] = {}
        if a.name == "change_relationship":
            assert isinstance(a.args, ChangeRelationship)
            if a.args.delta == 0:
                return None
            rel = await self.relationships.change(
                talk.ident.key, player.player_id, "npc_judged", scale=float(a.args.delta)
            )
            detail = {"trust": rel.trust, "delta": a.args.delta}
        elif a.name == "offer_mission":
            assert isinstance(a.args, OfferMission)
            desk = self.desk()
            await self._expire_offers(desk.service, player.player_id)
            # The game's mission desk builds, stores and announces the offer itself (its
            # `mission` event; its refusals as MISSION_REFUSED), like a player's request.
            if not desk.offer_to(player, talk.npc, a.args.theme):
                return "gone"
            detail = {"via": "desk"}
        else:  # pragma: no cover
            return "unknown_tool"
        self.game.bus.publish(NpcActed(player, talk.npc, a.name, detail))
        return None

    def _call_off(self, mates: list[int], target: int) -> None:
        """Backup still chasing the player goes back to wandering where it stands (an NPC
        given another command since, or gone, is left alone)."""
        release_followers(self.game.state.world, mates, target)

    async def _expire_offers(self, missions: MissionService, player_id: str) -> None:
        """Offers of this player past their time no longer count against its open offers,
        even on a server without a mission tracker running."""
        now = missions.clock()
        for mid, (pid, expires) in list(missions.offered.items()):
            if pid == player_id and expires <= now:
                await missions.expire(pid, mid)

    # --- world reads ---------------------------------------------------------------------

    def _faction_mates(self, w: World, npc: int, ident: NpcIdentity) -> list[int]:
        pos = w.entity_xy(npc)
        if pos is None:
            return []
        r = self.rules
        near = nearest_npcs(w, pos[0], pos[1], r.backup_radius, r.backup_count * 8, (npc,))
        out: list[int] = []
        for n in near:
            other = w.identity(n)
            if other is not None and other.faction == ident.faction:
                out.append(n)
                if len(out) >= r.backup_count:
                    break
        return out


class TalkActions:
    """The `ActionValidator` of one talk: this player, this NPC, checked against the world."""

    def __init__(self, actions: NpcActions, player: Player, npc: int, ident: NpcIdentity) -> None:
        self.actions = actions
        self.player = player
        self.npc = npc
        self.ident = ident
        self.accepted: set[str] = set()

    def present(self) -> bool:
        """The player still plays and the NPC is the same one, alive."""
        w = self.actions.game.state.world
        if not self.player.active or w.kind[self.npc] != EntityKind.NPC:
            return False
        now = w.identity(self.npc)
        return now is not None and now.key == self.ident.key

    async def validate(self, action: ProposedAction) -> Verdict:
        why = await self._check(action)
        return Verdict(why is None, why or "")

    async def _check(self, a: ProposedAction) -> str | None:
        acts = self.actions
        r = acts.rules
        w = acts.game.state.world
        player = self.player
        if a.name in self.accepted:
            return "duplicate"
        if not self.present():
            return "gone"
        npc_xy = w.entity_xy(self.npc)
        you = w.entity_xy(player.nid)
        if npc_xy is None or you is None:
            return "gone"
        if math.dist(npc_xy, you) > r.reach:
            return "too_far"
        if acts._by_player.full(player.player_id):
            return "rate_player"
        if acts._by_npc.full(self.ident.key):
            return "rate_npc"
        why = await self._rule(a)
        if why is None:
            # Counted when accepted: a rejected proposal costs the player nothing.
            acts._by_player.add(player.player_id)
            acts._by_npc.add(self.ident.key)
            self.accepted.add(a.name)
        return why

    async def _rule(self, a: ProposedAction) -> str | None:
        acts = self.actions
        r = acts.rules
        w = acts.game.state.world
        player = self.player
        has_faction = self.ident.faction not in NO_FACTION
        slot = w.npc_slot(self.npc)
        assert slot is not None  # present() checked it
        follows = int(w.follow.target[slot])
        if a.name == "follow_player":
            if follows == player.nid:
                return "already"
            if follows >= 0:
                return "busy"
            limit = r.max_followers * (2 if "ai:premium" in player.permissions else 1)
            if int((w.follow.target == player.nid).sum()) >= limit:
                return "too_many_followers"
        elif a.name == "stop_following":
            if follows != player.nid:
                return "not_following"
        elif a.name in ("call_faction", "share_rumour"):
            if not has_faction:
                return "no_faction"
            if a.name == "call_faction" and player.faction == self.ident.faction:
                return "same_faction"
        elif a.name == "give_money":
            assert isinstance(a.args, GiveMoney)
            rel = await acts.relationships.get(self.ident.key, player.player_id)
            if rel.trust < r.give_trust:
                return "distrust"
            if acts._given_last_hour(player.player_id) + a.args.amount > r.money_per_hour:
                return "money_cap"
            # Counted when accepted: from here on the gift is as good as given.
            acts._record_gift(player.player_id, a.args.amount)
        elif a.name == "take_money":
            assert isinstance(a.args, TakeMoney)
            if player.money < a.args.amount:
                return "balance"
        elif a.name == "offer_mission":
            missions = acts.desk().service
            rel = await acts.relationships.get(self.ident.key, player.player_id)
            if rel.trust <= -20:
                return "distrust"
            now = missions.clock()
            mine = sum(
                1 for p, exp in missions.offered.values() if p == player.player_id and exp > now
            )
            if mine >= missions.max_open_offers:
                return "too_many_offers"
        return None


def _away(w: World, npc: int, player: int, dist: float) -> tuple[float, float]:
    """A point `dist` metres from the NPC, straight away from the player, inside the world."""
    n = w.entity_xy(npc)
    p = w.entity_xy(player)
    assert n is not None
    dx, dy = (n[0] - p[0], n[1] - p[1]) if p is not None else (1.0, 0.0)
    norm = math.hypot(dx, dy) or 1.0
    b = w.bounds
    x = min(max(n[0] + dx / norm * dist, b.min_x + 1), b.max_x - 1)
    y = min(max(n[1] + dy / norm * dist, b.min_y + 1), b.max_y - 1)
    return x, y


def _label(name: str) -> str:
    return name if name in ACTION_MODELS else "unknown"
