"""Mission objectives checked against the world: a pure function over a read-only view.

`check_objectives(state, view)` returns the new `Progress` of one accepted mission; it never
awaits and never writes the world, so the tracker (server/gameplay/missions.py) runs it for
every mission between two ticks. The rules, per objective kind (server/ai/missions.py):

- reach_place: done once the player is within `radius_m` of the place; progress is how much
  of the distance seen at the first check has been covered.
- talk_to_npc: done once the dialogue layer has recorded that the player talked to that NPC
  (`WorldView.talked`).
- bring_npc: done once the NPC is within `radius_m` of the place (the player escorts it, e.g.
  as a follower); fails with `npc_gone` if the NPC despawns.
- stay_in_area: done after `seconds` spent CONTINUOUSLY within `radius_m`; leaving resets it.
- avoid_faction: fails (`spotted_by:{faction}`) if any NPC of that faction, or any player in it,
  comes within `distance_m` of the player; done `seconds` after the mission was accepted. The
  distance test is one numpy pass over every NPC of the faction.

Objectives run in parallel and latch: once done, an objective stays done. While the player
has no entity in the world (offline), nothing advances. Progress fractions are quantised to
`STEP` so that walking does not produce an event per check.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from server.ai.missions import AvoidFaction, BringNpc, Objective, ReachPlace, StayInArea, TalkToNpc

STEP = 0.05
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ObjectiveState:
    progress: float = 0.0
    done: bool = False
    start_dist: float | None = None  # reach/bring: the distance at the first check
    entered_at: float | None = None  # stay_in_area: when the current stay began


@dataclass(frozen=True, slots=True)
class MissionState:
    """One accepted mission as the checker sees it (immutable; the tracker swaps it)."""

    mission_id: str
    player_id: str
    objectives: tuple[Objective, ...]
    places: Mapping[str, tuple[float, float]]
    accepted_at: float
    deadline: float | None = None
    states: tuple[ObjectiveState, ...] = ()

    def __post_init__(self) -> None:
        if not self.states:
            object.__setattr__(self, "states", tuple(ObjectiveState() for _ in self.objectives))

    @property
    def complete(self) -> bool:
        return all(s.done for s in self.states)


@dataclass(frozen=True, slots=True)
class Progress:
    states: tuple[ObjectiveState, ...]
    failed: str | None = None

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(s.progress for s in self.states)

    @property
    def done(self) -> tuple[bool, ...]:
        return tuple(s.done for s in self.states)

    @property
    def complete(self) -> bool:
        return self.failed is None and all(self.done)

    def differs(self, old: tuple[ObjectiveState, ...]) -> bool:
        """Whether a player would see a change (fractions or done flags)."""
        return self.failed is not None or any(
            (a.progress, a.done) != (b.progress, b.done)
            for a, b in zip(self.states, old, strict=True)
        )


@dataclass(slots=True)
class WorldView:
    """What the checker reads: live world arrays (not copies) plus what the game layer knows.

    `player_nid` maps a player id to its entity net id (absent while offline); the player's
    position is `player_x[nid]`, `player_y[nid]` (world.players.x / y). NPC arrays are indexed
    by slot = net id - `npc_first_id` (world.npcs.x / y / alive). `npc_faction` holds a code
    per NPC slot (`faction_codes` names them; -1 unknown), see `NpcFactionIndex`.
    `faction_players` lists the net ids of online players per faction; `talked` the NPC net
    ids each player has talked to (filled by the dialogue layer).
    """

    now: float
    player_nid: Mapping[str, int]
    player_x: F64
    player_y: F64
    npc_first_id: int
    npc_x: F64
    npc_y: F64
    npc_alive: npt.NDArray[np.bool_]
    npc_faction: npt.NDArray[np.int16]
    faction_codes: Mapping[str, int]
    talked: Mapping[str, Collection[int]] = field(default_factory=dict)
    faction_players: Mapping[str, Collection[int]] = field(default_factory=dict)
    _masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def npc_xy(self, npc_id: int) -> tuple[float, float] | None:
        i = npc_id - self.npc_first_id
        if 0 <= i < len(self.npc_alive) and self.npc_alive[i]:
            return float(self.npc_x[i]), float(self.npc_y[i])
        return None

    def faction_mask(self, faction: str) -> npt.NDArray[np.bool_]:
        """Live NPCs of `faction` (computed once per view: one numpy comparison)."""
        mask = self._masks.get(faction)
        if mask is None:
            code = self.faction_codes.get(faction, -2)
            n = len(self.npc_alive)
            mask = (self.npc_faction[:n] == code) & self.npc_alive
            self._masks[faction] = mask
        return mask

    def faction_near(self, faction: str, x: float, y: float, radius: float, me: int) -> bool:
        """Whether a member of `faction` (NPC or another online player) is within `radius`."""
        mask = self.faction_mask(faction)
        r2 = radius * radius
        if mask.any():
            dx = self.npc_x[mask] - x
            dy = self.npc_y[mask] - y
            if bool(np.any(dx * dx + dy * dy <= r2)):
                return True
        nids = [n for n in self.faction_players.get(faction, ()) if n != me]
        if nids:
            idx = np.fromiter(nids, dtype=np.int64, count=len(nids))
            dx = self.player_x[idx] - x
            dy = self.player_y[idx] - y
            return bool(np.any(dx * dx + dy * dy <= r2))
        return False


def _quantise(x: float) -> float:
    return round(round(min(1.0, max(0.0, x)) / STEP) * STEP, 4)


def _approach(s: ObjectiveState, dist: float, radius: float) -> ObjectiveState:
    if dist <= radius:
        return replace(s, progress=1.0, done=True)
    start = s.start_dist if s.start_dist is not None else dist
    span = start - radius
    frac = (start - dist) / span if span > 0 else 0.0
    return replace(s, start_dist=start, progress=max(s.progress, _quantise(frac)))


def _check_one(
    o: Objective,
    s: ObjectiveState,
    st: MissionState,
    view: WorldView,
    nid: int,
    px: float,
    py: float,
) -> tuple[ObjectiveState, str | None]:
    if isinstance(o, AvoidFaction):
        if view.faction_near(o.faction, px, py, o.distance_m, nid):
            return s, f"spotted_by:{o.faction}"
        if s.done:
            return s, None
        elapsed = view.now - st.accepted_at
        if elapsed >= o.seconds:
            return replace(s, progress=1.0, done=True), None
        return replace(s, progress=_quantise(elapsed / o.seconds)), None
    if s.done:
        return s, None
    if isinstance(o, TalkToNpc):
        talked = o.npc_id in view.talked.get(st.player_id, ())
        return (replace(s, progress=1.0, done=True) if talked else s), None
    place = st.places.get(o.place)
    if place is None:  # the offer validated places; a missing one is a broken record
        return s, f"unknown_place:{o.place}"
    if isinstance(o, ReachPlace):
        return _approach(s, math.dist((px, py), place), o.radius_m), None
    if isinstance(o, BringNpc):
        at = view.npc_xy(o.npc_id)
        if at is None:
            return s, "npc_gone"
        return _approach(s, math.dist(at, place), o.radius_m), None
    if isinstance(o, StayInArea):
        if math.dist((px, py), place) > o.radius_m:
            return replace(s, entered_at=None, progress=0.0), None
        entered = s.entered_at if s.entered_at is not None else view.now
        stayed = view.now - entered
        if stayed >= o.seconds:
            return replace(s, entered_at=entered, progress=1.0, done=True), None
        return replace(s, entered_at=entered, progress=_quantise(stayed / o.seconds)), None
    raise TypeError(f"unknown objective {o!r}")  # pragma: no cover - the union is closed


def check_objectives(state: MissionState, view: WorldView) -> Progress:
    """The mission's progress in this view of the world (pure: `state` is not changed)."""
    nid = view.player_nid.get(state.player_id)
    if nid is None:
        return Progress(state.states)
    px, py = float(view.player_x[nid]), float(view.player_y[nid])
    states = []
    for o, s in zip(state.objectives, state.states, strict=True):
        new, failed = _check_one(o, s, state, view, nid, px, py)
        if failed is not None:
            return Progress(state.states, failed)
        states.append(new)
    return Progress(tuple(states))


class NpcFactionIndex:
    """Faction code of every NPC slot, refreshed a bounded number of slots per call.

    Why incremental: an NPC's faction comes from its identity, which is computed on demand
    (a hash per NPC); doing all 10,000 at once would hold the event loop for tens of
    milliseconds. Refreshing `budget` slots per tracker pass keeps every pass short; a slot
    reused by a spawn is corrected within one full round.
    """

    def __init__(self) -> None:
        self.codes: npt.NDArray[np.int16] = np.full(0, -1, dtype=np.int16)
        self.names: dict[str, int] = {}
        self._next = 0

    def code(self, faction: str) -> int:
        c = self.names.get(faction)
        if c is None:
            c = self.names[faction] = len(self.names)
        return c

    def refresh(self, world: Any, budget: int = 1000) -> None:
        """Update up to `budget` slots of `world` (a server.world.World)."""
        n = int(world.npcs.n)
        if len(self.codes) < n:
            grown = np.full(n, -1, dtype=np.int16)
            grown[: len(self.codes)] = self.codes
            self.codes = grown
        if n == 0:
            return
        for _ in range(min(budget, n)):
            i = self._next % n
            self._next = i + 1
            if world.npcs.alive[i]:
                self.codes[i] = self.code(world.identities.get(i).faction)
            else:
                self.codes[i] = -1


def view_of_world(
    world: Any,
    now: float,
    player_nid: Mapping[str, int],
    index: NpcFactionIndex,
    *,
    talked: Mapping[str, Collection[int]] | None = None,
    faction_players: Mapping[str, Collection[int]] | None = None,
) -> WorldView:
    """A view over a live server.world.World (no copies: use it before the next await)."""
    n = int(world.npcs.n)
    codes = index.codes
    if len(codes) < n:
        codes = np.concatenate([codes, np.full(n - len(codes), -1, dtype=np.int16)])
    present = {pid: nid for pid, nid in player_nid.items() if nid in world.players.names}
    return WorldView(
        now=now,
        player_nid=present,
        player_x=world.players.x,
        player_y=world.players.y,
        npc_first_id=int(world.npcs.first_id),
        npc_x=world.npcs.x,
        npc_y=world.npcs.y,
        npc_alive=world.npcs.alive,
        npc_faction=codes,
        faction_codes=index.names,
        talked=talked or {},
        faction_players=faction_players or {},
    )
