"""Missions for players: the `mission` message, the objective tracker, what players are told.

The `mission` handler only validates (the giver NPC is in view) and calls `MissionDesk.handle`,
which runs the request as a task of its own (generation may wait for a model, every step
awaits storage); the rules are `server.gameplay.missions.MissionService`'s. What the player
sees (SPEC §4.3): `event` `mission` with the whole mission (its `status` offered, accepted,
completed, failed or expired), `mission.progress` as objectives advance, `mission.list`,
and `money` when a completion pays. Refusals are `error` 15 MISSION_REFUSED.

The tracker (`MissionTracker`, MISSION_CHECK_INTERVAL, 2 Hz by default) runs on a timer of
its own, never inside the tick: each pass reads the world arrays synchronously between two
ticks (the tick runs on the same loop, so nothing moves during the read: the view is the
state the last tick left), checks every accepted mission, and hands completions, failures
and expiries to tasks that await storage.

Exactly once: a completion (the client's `complete`, or the tracker when the objectives are
done) pays the reward and shifts the faction relationships in one transaction keyed by
(mission, player); repeating it, also after a crash between the commit and the reply,
applies nothing (`MissionService.complete`). The reward is credited to the live player just
before the commit (so a snapshot cannot carry the old balance back) and told to the player
as a `money` event after it (`MoneyChanged(recorded=True)`: already durable, the ledger
skips it).

NPC objectives: a request offers the generator the few NPCs nearest the giver (read from the
world with the places, before any await; never the giver, a companion, or an NPC already
following someone), and the mission's card names them (`npc_id`, `npc_name`). A talk_to_npc
objective is done once the player has talked to that NPC (`NpcTalked` on the bus). The NPC of
a bring_npc objective follows the player from the acceptance (`Follow`, as companions do)
until the mission completes, fails or expires, or the player leaves (then it wanders where it
stands); when the player comes back with the mission still accepted, it follows again.

`offer_to(player, npc)` is the entry point for anything else that offers a mission (an NPC's
AI action): the same checks and events as a player's `request`.

GANGGPT_TEST_EXIT_AFTER_MISSION_COMMIT=1 (tests only) makes the process exit right after a
completion's commit, before anything is sent: what a crash between the two looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import os
import random
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from protocol import control
from protocol.catalogue import EntityKind, ErrorCode, ProtocolError
from server.ai import AiService, CallerInfo
from server.ai.context import MissionContext, Place
from server.ai.missions import AvoidFaction, BringNpc
from server.game.events import MoneyChanged, NpcTalked, PlayerJoined, PlayerLeft
from server.game.followers import release_followers
from server.game.player import Player
from server.gameplay.companions import ROLE as COMPANION_ROLE
from server.gameplay.dialogue_context import persona_of
from server.gameplay.events import (
    GameplayEvent,
    MissionAccepted,
    MissionCompleted,
    MissionExpired,
    MissionFailed,
    MissionProgress,
)
from server.gameplay.factions import FactionService
from server.gameplay.metrics import GameplayMetrics
from server.gameplay.missions import MissionError, MissionService, MissionTracker
from server.gameplay.objectives import NpcFactionIndex, WorldView, view_of_world
from server.persistence.models import MissionOffer
from server.world.commands import Follow
from server.world.identity import FACTIONS, GANGS

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.missions")

EXIT_HOOK = "GANGGPT_TEST_EXIT_AFTER_MISSION_COMMIT"
IN_FLIGHT_MAX = 4  # mission requests of one player being worked on at once
TALKED_MAX = 64  # NPCs remembered per player for talk_to_npc objectives
PLACES = 3  # places offered to the generator per request
PLACE_MIN, PLACE_MAX = 30.0, 90.0  # metres from the giver
TARGETS = 3  # NPCs near the giver offered to the generator (to talk to, to bring somewhere)
TARGET_RANGE = 60.0  # metres from the giver
TARGET_NAME_MAX = 40  # characters of a target's name put into the mission's text
ESCORT_DISTANCE = 2.5  # metres behind the player an NPC being brought keeps
ESCORT_SPEED = 6.0  # m/s: a jog, so it keeps up with a running player (as companions do)
LANDMARKS = (
    "garage",
    "laundromat",
    "liquor store",
    "parking lot",
    "car wash",
    "taco stand",
    "gas station",
    "motel",
    "pawn shop",
    "bus stop",
    "alley",
    "tattoo parlor",
)
DIRECTIONS = (
    "east",
    "north-east",
    "north",
    "north-west",
    "west",
    "south-west",
    "south",
    "south-east",
)
WORLD_FACTIONS = tuple(f for f in FACTIONS if f != "none")
DISPLAY_NAMES = {"lspd": "LSPD", "ems": "EMS", "lost_mc": "The Lost MC"}


def exit_hook_from_env() -> bool:
    """Whether the test-only crash hook is on; a value other than unset, "" or "1" fails at
    start naming the variable."""
    value = os.environ.get(EXIT_HOOK, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{EXIT_HOOK} must be 1 (tests only) or unset, not {value!r}")
    return value == "1"


def _refused(code: str, message: str) -> ProtocolError:
    return ProtocolError(f"{code}: {message}", error=ErrorCode.MISSION_REFUSED)


class MissionDesk:
    """The game's missions: one per server (`Game.missions`)."""

    def __init__(
        self,
        game: Game,
        service: MissionService,
        factions: FactionService,
        *,
        interval: float,
        exit_after_commit: bool = False,
    ) -> None:
        self.game = game
        self.service = service
        self.factions = factions
        self.exit_after_commit = exit_after_commit
        self.tracker = MissionTracker(service, self._view, interval=interval)
        self.index = NpcFactionIndex()
        self.talked: dict[str, set[int]] = {}  # player id -> NPC net ids talked to
        self._cards: dict[str, dict[str, Any]] = {}  # mission id -> what the player sees
        self._fresh: set[str] = set()  # completions committed by this process, not told yet
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._boot: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._places = itertools.count(1)
        # mission id -> (player id, the player's net id, NPCs following them for it)
        self._escorts: dict[str, tuple[str, int, tuple[int, ...]]] = {}
        self.escort_speed = ESCORT_SPEED
        # Wired here rather than in the constructor call: the service is built before us.
        service.emit = self._emit
        service.after_commit = self._committed
        service.credit = self._credit
        game.bus.subscribe(NpcTalked, self._npc_talked, name="missions")
        game.bus.subscribe(PlayerLeft, self._player_left, name="missions")
        game.bus.subscribe(PlayerJoined, self._player_joined, name="missions")

    @classmethod
    def build(cls, game: Game, ai: AiService, factions: FactionService) -> MissionDesk:
        """`factions` is the game's one faction service (`FactionDesk.service`): it already
        publishes relation shifts on the game bus, where the faction desk turns them into
        news and `faction.relation` events."""
        st = game.state
        cfg = st.config
        repos = st.persistence.repos
        metrics = GameplayMetrics.for_registry(st.metrics.registry)
        service = MissionService(
            repos,
            ai,
            factions,
            lambda ev: None,
            metrics,
            offer_ttl=cfg.mission_offer_ttl,
            max_open_offers=cfg.mission_open_offers,
        )
        return cls(
            game,
            service,
            factions,
            interval=cfg.mission_check_interval,
            exit_after_commit=exit_hook_from_env(),
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._boot is None:
            self._boot = asyncio.get_running_loop().create_task(
                self._start(), name="ganggpt-missions-start"
            )

    async def _start(self) -> None:
        """The world's factions exist (mission impacts name them), then the open offers and
        accepted missions of the last run are tracked again; retried while storage is down."""
        delay = 1.0
        while True:
            try:
                repos = self.game.state.persistence.repos
                for name in WORLD_FACTIONS:
                    if await repos.factions.state(name) is None:
                        shown = DISPLAY_NAMES.get(name, name.replace("_", " ").title())
                        await repos.factions.create(name, shown)
                await self.service.restore()
                break
            except Exception as err:
                log.warning("missions not restored yet (%r); retrying in %.0f s", err, delay)
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
        self._ready.set()
        self.tracker.start()

    async def stop(self) -> None:
        tasks = [t for t in (self._boot, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.tracker.stop()

    # --- the `mission` message ---------------------------------------------------------------

    def handle(self, player: Player, msg: control.Mission) -> None:
        """Answer a player's `mission` message (already decoded and checked for shape)."""
        if msg.action == "request":
            assert msg.npc is not None
            if not self._sees_npc(player, msg.npc):
                player.client.fail(
                    ProtocolError(f"no NPC {msg.npc} in view", error=ErrorCode.UNKNOWN_ENTITY)
                )
                return
            self._run(player, self._request(player, msg.npc, msg.theme or ""))
        elif msg.action == "list":
            self._run(player, self._list(player))
        else:
            assert msg.id is not None
            work = {
                "accept": self._accept,
                "abandon": self._abandon,
                "complete": self._complete,
            }[msg.action]
            self._run(player, work(player, msg.id))

    def offer_to(self, player: Player, npc: int, theme: str = "") -> bool:
        """Offer `player` a mission from NPC `npc` (e.g. an NPC's AI action); False when that
        NPC is not in the player's view. The offer arrives as a `mission` event."""
        if not self._sees_npc(player, npc):
            return False
        self._run(player, self._request(player, npc, theme))
        return True

    async def generate_for(self, player: Player) -> dict[str, Any]:
        """The admin console's `missions.generate`: the NPC nearest `player` in view offers
        a mission, which the player receives as usual; returns what the player sees."""
        w = self.game.state.world
        at = w.entity_xy(player.nid)
        if at is None:
            raise MissionError("unavailable", "the player is not in the world")
        nearest: tuple[float, int] | None = None
        for nid in w.entities_in(w.grid.view_cells(int(w.cell[player.nid]))):
            if w.kind[nid] != EntityKind.NPC or w.identity(nid) is None:
                continue
            xy = w.entity_xy(nid)
            if xy is not None:
                d = math.hypot(xy[0] - at[0], xy[1] - at[1])
                if nearest is None or d < nearest[0]:
                    nearest = (d, nid)
        if nearest is None:
            raise MissionError("unavailable", "no NPC in the player's view to give a mission")
        return await self._request(player, nearest[1], "")

    def _sees_npc(self, player: Player, npc: int) -> bool:
        w = self.game.state.world
        return bool(w.kind[npc] == EntityKind.NPC) and w.grid.sees(
            int(w.cell[player.nid]), int(w.cell[npc])
        )

    def _run(self, player: Player, work: Coroutine[Any, Any, object]) -> None:
        pid = player.player_id
        if self._in_flight.get(pid, 0) >= IN_FLIGHT_MAX:
            work.close()
            self._refuse(player, "busy", "wait for your other mission requests")
            return
        self._in_flight[pid] = self._in_flight.get(pid, 0) + 1
        task = asyncio.get_running_loop().create_task(self._guarded(player, work))
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            left = self._in_flight.get(pid, 1) - 1
            if left > 0:
                self._in_flight[pid] = left
            else:
                self._in_flight.pop(pid, None)

        task.add_done_callback(done)

    async def _guarded(self, player: Player, work: Coroutine[Any, Any, object]) -> None:
        try:
            if not self._ready.is_set():
                await self._ready.wait()
            await work
        except MissionError as err:
            self._refuse(player, err.code, str(err))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # storage down, generation failed: nothing changed
            log.warning("mission request of %s failed: %r", player, err)
            self._refuse(player, "unavailable", "missions are unavailable right now")
        finally:
            work.close()

    def _refuse(self, player: Player, code: str, message: str) -> None:
        # Not the client's fault: a refusal does not count against its error budget.
        self.game.state.metrics.errors.labels(code=ErrorCode.MISSION_REFUSED.name).inc()
        player.client.send(control.error(ErrorCode.MISSION_REFUSED, f"{code}: {message}"))

    async def _request(self, player: Player, npc: int, theme: str) -> dict[str, Any]:
        # One synchronous read of the world before any await.
        w = self.game.state.world
        ident = w.identity(npc)
        at = w.entity_xy(npc)
        if ident is None or at is None:
            raise MissionError("unknown_mission", "that NPC has nothing for you")
        faction = ident.faction if ident.faction in WORLD_FACTIONS else None
        giver = dataclasses.replace(persona_of(ident), faction=faction)
        rivals = tuple(f for f in GANGS if f != faction)
        targets = self._targets_near(npc, at)
        ctx = MissionContext(
            player_id=player.player_id,
            giver=giver,
            places=self._places_near(at, ident.seed),
            npc_ids=tuple(n for n, _ in targets),
            factions=((faction,) if faction else ()) + rivals,
            max_reward=self.game.state.config.mission_max_reward,
            theme=theme,
            npc_names=tuple(name for _, name in targets),
        )
        caller = CallerInfo.from_scopes(player.player_id, ident.key, player.permissions)
        offered = await self.service.offer(
            ctx,
            caller,
            giver_faction=faction,
            extra={
                "giver": {"npc": npc, "name": ident.name, "faction": faction},
                "npcs": {str(n): name for n, name in targets},
            },
        )
        card = await self._card(offered.mission_id)
        self._send(player.player_id, "mission", card)
        return card

    def _targets_near(self, giver: int, at: tuple[float, float]) -> list[tuple[int, str]]:
        """The NPCs nearest the giver (net id, name) a mission may send the player to talk to
        or bring somewhere: not the giver, not a companion, not an NPC already following
        someone (another escort, a faction's backup). Distances first, identities only for
        the few taken: an identity is computed on demand (a hash per NPC)."""
        w = self.game.state.world
        npcs = w.npcs
        near: list[tuple[float, int, int]] = []
        for nid in w.entities_in(w.grid.view_cells(int(w.cell[giver]))):
            if nid == giver or w.kind[nid] != EntityKind.NPC:
                continue
            slot = w.npc_slot(nid)
            if slot is None or int(w.follow.target[slot]) >= 0:
                continue
            d = math.hypot(float(npcs.x[slot]) - at[0], float(npcs.y[slot]) - at[1])
            if d <= TARGET_RANGE:
                near.append((d, nid, slot))
        near.sort()
        out: list[tuple[int, str]] = []
        for _, nid, slot in near:
            ident = w.identities.get(slot)
            if ident.role == COMPANION_ROLE:
                continue
            out.append((nid, ident.name[:TARGET_NAME_MAX]))
            if len(out) == TARGETS:
                break
        return out

    def _places_near(self, at: tuple[float, float], seed: int) -> tuple[Place, ...]:
        cfg = self.game.state.config
        rng = random.Random(f"{seed}:{next(self._places)}")
        out: list[Place] = []
        names: set[str] = set()
        for _ in range(PLACES):
            angle = rng.uniform(0.0, 2.0 * math.pi)
            dist = rng.uniform(PLACE_MIN, PLACE_MAX)
            x = min(
                cfg.world_max_x - 5.0, max(cfg.world_min_x + 5.0, at[0] + dist * math.cos(angle))
            )
            y = min(
                cfg.world_max_y - 5.0, max(cfg.world_min_y + 5.0, at[1] + dist * math.sin(angle))
            )
            octant = DIRECTIONS[round(angle / (math.pi / 4)) % 8]
            name = f"the {rng.choice(LANDMARKS)} to the {octant}"
            if name in names:
                continue
            names.add(name)
            out.append(Place(name, round(x, 1), round(y, 1)))
        return tuple(out)

    async def _accept(self, player: Player, mission_id: str) -> None:
        await self.service.accept(player.player_id, mission_id)
        card = await self._card(mission_id, reload=True)
        self._send(player.player_id, "mission", card)

    async def _abandon(self, player: Player, mission_id: str) -> None:
        # MissionFailed is emitted and told by `_on_gameplay`.
        await self.service.fail(player.player_id, mission_id, "abandoned")

    async def _complete(self, player: Player, mission_id: str) -> None:
        told = self.service.announced(mission_id)
        result = await self.service.complete(player.player_id, mission_id)
        if told:
            # Completed and told before: say so again, nothing was paid now.
            card = await self._card(mission_id, reload=True)
            card.update(paid=0, repeated=True, balance=result.balance)
            self._send(player.player_id, "mission", card)

    async def _list(self, player: Player) -> None:
        offers = await self.game.state.persistence.repos.missions.offers(player.player_id, limit=20)
        cards = [self._card_of(o) for o in offers]
        self._send(player.player_id, "mission.list", {"missions": cards})

    # --- what the player sees ----------------------------------------------------------------

    async def _card(self, mission_id: str, *, reload: bool = False) -> dict[str, Any]:
        card = None if reload else self._cards.get(mission_id)
        if card is None:
            offer = await self.game.state.persistence.repos.missions.offer_of(mission_id)
            if offer is None:
                raise MissionError("unknown_mission", "no such mission")
            card = self._card_of(offer)
            if offer.state in ("offered", "accepted"):
                self._cards[mission_id] = card
        return dict(card)

    def _card_of(self, o: MissionOffer) -> dict[str, Any]:
        spec = o.spec.get("mission", {})
        places = o.spec.get("places", {})
        names = o.spec.get("npcs", {})
        state = self.service.active.get(o.mission_id)
        objectives = []
        for i, ob in enumerate(spec.get("objectives", [])):
            item = dict(ob)
            where = places.get(ob.get("place"))
            if where is not None:
                item["x"], item["y"] = float(where[0]), float(where[1])
            if "npc_id" in ob:
                item["npc_name"] = names.get(str(ob["npc_id"]))
            done = o.state == "completed"
            progress = 1.0 if done else 0.0
            if state is not None and i < len(state.states):
                progress, done = state.states[i].progress, state.states[i].done
            item["progress"], item["done"] = progress, done
            objectives.append(item)
        card: dict[str, Any] = {
            "id": o.mission_id,
            "status": o.state,
            "title": spec.get("title", ""),
            "description": spec.get("description", ""),
            "objectives": objectives,
            "difficulty": spec.get("difficulty", 1),
            "estimated_minutes": spec.get("estimated_minutes", 0),
            "reward": spec.get("reward", {"money": 0, "reputation": 0}),
            "faction_impact": spec.get("faction_impact", []),
            "giver": o.spec.get("giver"),
        }
        if o.state == "offered" and o.expires_at is not None:
            card["expires_at"] = o.expires_at
        if o.state == "accepted" and o.deadline is not None:
            card["deadline"] = o.deadline
        if o.reason:
            card["reason"] = o.reason
        return card

    def _send(self, player_id: str, kind: str, data: dict[str, Any]) -> None:
        player = self.game.state.players.get(player_id)
        if player is not None:
            self.game.delivery.to_player(player, control.GameEvent(type=kind, data=data))

    def _send_card(self, player_id: str, mission_id: str, status: str, **extra: Any) -> None:
        card = self._cards.pop(mission_id, None)
        if card is None:
            # Not known to this process (offered before a restart and never seen since).
            self._spawn(self._send_loaded(player_id, mission_id, status, extra))
            return
        card.update(status=status, **extra)
        card.pop("expires_at", None)
        card.pop("deadline", None)
        self._send(player_id, "mission", card)

    async def _send_loaded(
        self, player_id: str, mission_id: str, status: str, extra: dict[str, Any]
    ) -> None:
        card = await self._card(mission_id, reload=True)
        card.update(status=status, **extra)
        self._send(player_id, "mission", card)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._work_done)

    def _work_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("telling a mission change failed: %r", task.exception())

    # --- gameplay events -> players ----------------------------------------------------------

    def _credit(self, player_id: str, delta: int) -> None:
        player = self.game.state.players.get(player_id)
        if player is not None:
            player.money += int(delta)

    def _committed(self, mission_id: str, player_id: str) -> None:
        if self.exit_after_commit:
            # Straight to the file descriptor: os._exit flushes no logging handler.
            os.write(2, f"{EXIT_HOOK}: exiting right after the commit of {mission_id}\n".encode())
            os._exit(137)
        self._fresh.add(mission_id)

    def _emit(self, ev: GameplayEvent) -> None:
        """Tell the player here, and the rest of the game (faction news) on the bus."""
        self._on_gameplay(ev)
        self.game.bus.publish(ev)

    def _on_gameplay(self, ev: GameplayEvent) -> None:
        if isinstance(ev, MissionCompleted | MissionFailed | MissionExpired):
            self._release(ev.mission_id)
        if isinstance(ev, MissionAccepted):
            self._escort(ev.mission_id)
        elif isinstance(ev, MissionProgress):
            objectives = [
                {"progress": p, "done": d} for p, d in zip(ev.objectives, ev.done, strict=True)
            ]
            card = self._cards.get(ev.mission_id)
            if card is not None:
                for item, now in zip(card["objectives"], objectives, strict=False):
                    item.update(now)
            self._send(
                ev.player_id,
                "mission.progress",
                {"id": ev.mission_id, "objectives": objectives, "complete": all(ev.done)},
            )
        elif isinstance(ev, MissionCompleted):
            self._completed(ev)
        elif isinstance(ev, MissionFailed):
            self._send_card(ev.player_id, ev.mission_id, "failed", reason=ev.reason)
        elif isinstance(ev, MissionExpired):
            self._send_card(ev.player_id, ev.mission_id, "expired")

    def _completed(self, ev: MissionCompleted) -> None:
        fresh = ev.mission_id in self._fresh
        self._fresh.discard(ev.mission_id)
        player = self.game.state.players.get(ev.player_id)
        if fresh and ev.reward and player is not None:
            # Credited before the commit (`_credit`); durable with the mission, so the ledger
            # must not record it again.
            self.game.bus.publish(
                MoneyChanged(
                    player, player.money - ev.reward, player.money, "mission", recorded=True
                )
            )
        self._spawn(self._tell_completed(ev, fresh))

    async def _tell_completed(self, ev: MissionCompleted, fresh: bool) -> None:
        card = self._cards.pop(ev.mission_id, None)
        if card is None:
            card = await self._card(ev.mission_id, reload=True)
        try:
            relations = await self._relations(ev, card)
        except Exception as err:  # storage trouble: the completion is told all the same
            log.warning("relations of mission %s not read: %r", ev.mission_id, err)
            relations = []
        for item in card["objectives"]:
            item.update(progress=1.0, done=True)
        card.pop("deadline", None)
        card.pop("expires_at", None)
        card.update(
            status="completed",
            paid=ev.reward if fresh else 0,
            repeated=not fresh,
            balance=ev.balance,
            relations=relations,
        )
        self._send(ev.player_id, "mission", card)

    async def _relations(self, ev: MissionCompleted, card: dict[str, Any]) -> list[dict[str, Any]]:
        """The relationships the completion moved, as they are now: the player's faction
        (the giver's when the player has none) with each faction of the impact."""
        if not ev.faction_impact:
            return []
        member = await self.game.state.persistence.repos.factions.membership(ev.player_id)
        giver = card.get("giver") or {}
        actor = member.faction if member is not None else giver.get("faction")
        out: list[dict[str, Any]] = []
        for other, delta in sorted(ev.faction_impact.items()):
            if actor is None or other == actor:
                continue
            rel = await self.factions.relationship(actor, other)
            out.append(
                {
                    "faction": actor,
                    "other": other,
                    "delta": delta,
                    "strength": rel.strength,
                    "stance": rel.stance,
                }
            )
        return out

    def _npc_talked(self, ev: NpcTalked) -> None:
        seen = self.talked.setdefault(ev.player.player_id, set())
        if len(seen) >= TALKED_MAX:
            seen.pop()
        seen.add(ev.npc)

    def _player_left(self, ev: PlayerLeft) -> None:
        pid = ev.player.player_id
        self.talked.pop(pid, None)
        for mid, (owner, _, _) in list(self._escorts.items()):
            if owner == pid:
                self._release(mid)

    def _player_joined(self, ev: PlayerJoined) -> None:
        """Back in the world (resumed, or after a restart): the NPCs still to be brought
        follow the player again."""
        pid = ev.player.player_id
        for mid, state in list(self.service.active.items()):
            if state.player_id == pid:
                self._escort(mid)

    # --- NPCs brought somewhere ----------------------------------------------------------------

    def _escort(self, mission_id: str) -> None:
        """The NPCs of the mission's bring_npc objectives not done yet follow its player
        (the same world command companions and NPC actions use)."""
        state = self.service.active.get(mission_id)
        if state is None:
            return
        player = self.game.state.players.get(state.player_id)
        if player is None or not player.active or player.spectator:
            return
        npcs = tuple(
            o.npc_id
            for o, s in zip(state.objectives, state.states, strict=True)
            if isinstance(o, BringNpc) and not s.done
        )
        if not npcs:
            return
        w = self.game.state.world
        for n in npcs:
            w.submit(
                Follow(npc=n, target=player.nid, distance=ESCORT_DISTANCE, speed=self.escort_speed)
            )
        self._escorts[mission_id] = (player.player_id, player.nid, npcs)

    def _release(self, mission_id: str) -> None:
        """The mission's NPCs still following its player wander again where they stand (an
        NPC given another command since, or gone, is left alone)."""
        got = self._escorts.pop(mission_id, None)
        if got is None:
            return
        _, target, npcs = got
        release_followers(self.game.state.world, npcs, target)

    # --- the tracker's view of the world -----------------------------------------------------

    def _view(self) -> WorldView | None:
        """Called by the tracker between two ticks; reads the live arrays without copying."""
        active = self.service.active
        if not active:
            return None
        st = self.game.state
        players = st.players
        nids: dict[str, int] = {}
        avoid = False
        for m in active.values():
            p = players.get(m.player_id)
            if p is not None and p.active:
                nids[m.player_id] = p.nid
            avoid = avoid or any(isinstance(o, AvoidFaction) for o in m.objectives)
        by_faction: dict[str, list[int]] = {}
        if avoid:
            self.index.refresh(st.world, budget=1000)
            for p in players.values():
                if p.faction and p.active:
                    by_faction.setdefault(p.faction, []).append(p.nid)
        return view_of_world(
            st.world,
            time.time(),
            nids,
            self.index,
            talked=self.talked,
            faction_players=by_faction,
        )
