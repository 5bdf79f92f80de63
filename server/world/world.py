"""The world: every entity, the grid they live on, and the log of what changed.

The tick calls `step` once; it advances NPCs, quantises players, re-bins everyone into grid
cells and records *crossings* (entity, from cell, to cell) and *path changes* per tick. The
replication steps read those logs instead of diffing per client, which is what keeps the cost
of enter/leave proportional to what actually changed.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from config import Config
from config.settings import ConfigError
from protocol.catalogue import EntityKind
from protocol.quant import WorldBounds, speed_to_wire
from protocol.state import NpcPath, encode_npc_enter, encode_path, encode_player_enter
from server.world.commands import (
    COMMAND_TYPES,
    Command,
    CommandQueue,
    DespawnNpc,
    Follow,
    SetState,
    SpawnNpc,
    StopAndFace,
    Teleport,
    WalkTo,
    problem,
)
from server.world.follow import Followers
from server.world.grid import Grid
from server.world.identity import (
    Directory,
    NpcIdentity,
    PinnedNpc,
    generate_identity,
    load_npc_file,
)
from server.world.npcs import Npcs
from server.world.players import CAPACITY, Players

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class TickLog:
    """What happened in one tick, kept for HISTORY ticks."""

    tick: int
    cross_ids: I64
    cross_from: I32
    cross_to: I32
    path_ids: I64
    teleports: list[int] = field(default_factory=list)  # players moved by a Teleport command


class NetIds:
    """u16 net id allocator with quarantine, so a freed id is never reused while a client may
    still know it (or while its player may still resume)."""

    def __init__(self, first: int, quarantine_ticks: int) -> None:
        self.next = first
        self.free: collections.deque[tuple[int, int]] = collections.deque()
        self.quarantine = quarantine_ticks

    def allocate(self, tick: int) -> int:
        if self.free and self.free[0][1] <= tick:
            nid, _ = self.free.popleft()
            return nid
        if self.next >= CAPACITY:
            raise RuntimeError("no free net ids")
        nid = self.next
        self.next += 1
        return nid

    def release(self, nid: int, tick: int) -> None:
        self.free.append((nid, tick + self.quarantine))


class World:
    def __init__(
        self, config: Config, history_ticks: int, pinned: list[PinnedNpc] | None = None
    ) -> None:
        self.config = config
        self.bounds = WorldBounds(
            config.world_min_x,
            config.world_min_y,
            config.world_min_z,
            config.world_max_x,
            config.world_max_y,
            config.world_max_z,
        )
        self.grid = Grid(
            self.bounds,
            config.aoi_cell_size,
            config.aoi_radius,
            config.aoi_near_distance,
            config.aoi_mid_distance,
        )
        self.tick = 0
        self.tick_rate = config.tickrate
        if pinned is None:
            pinned = load_npc_file(config.npc_file) if config.npc_file else []
        base = config.npc_count
        # NPC slots: generated NPCs, then pinned ones, then headroom for spawned ones. Net id
        # of slot i is 1 + i; players' net ids start after the last NPC slot.
        npc_capacity = base + len(pinned) + config.npc_spawn_capacity
        if npc_capacity + config.max_players >= CAPACITY:
            raise ConfigError(
                f"NPC_COUNT ({base}) + NPC_FILE entries ({len(pinned)}) + NPC_SPAWN_CAPACITY "
                f"({config.npc_spawn_capacity}) + MAX_PLAYERS ({config.max_players}) must stay "
                f"below {CAPACITY - 1} net ids"
            )
        self.npcs = Npcs(
            base,
            1,
            self.bounds,
            config.spawn_area_size,
            config.npc_speed,
            config.tickrate,
            config.npc_seed,
            start_tick=0,
            capacity=npc_capacity,
        )
        self.players = Players(self.bounds)
        self.net_ids = NetIds(
            1 + npc_capacity,
            quarantine_ticks=int((config.resume_window + 5) * config.tickrate) + history_ticks,
        )
        self.cell = np.full(CAPACITY, -1, dtype=np.int32)
        self.kind = np.zeros(CAPACITY, dtype=np.uint8)
        # Game state not on the wire in v1: NPC health (players' is in `players.health`) and a
        # free byte per entity for game code (SetState).
        self.npc_health = np.full(npc_capacity, 100, dtype=np.uint8)
        self.state = np.zeros(CAPACITY, dtype=np.uint8)
        self.members: dict[int, set[int]] = collections.defaultdict(set)
        self.history = history_ticks
        self.logs: collections.deque[TickLog] = collections.deque(maxlen=history_ticks)
        self._pending: list[tuple[int, int, int]] = []  # (id, from, to) from outside the tick
        self._npc_end = 1 + npc_capacity  # NPC net ids are 1 .. npc_capacity
        self._npc_enter: dict[int, bytes] = {}
        self._npc_path: dict[int, bytes] = {}
        self._player_enter: dict[int, bytes] = {}
        self._player_enter_tick = -1
        # World commands (server/world/commands.py) and what they changed this tick.
        self.commands = CommandQueue(config.npc_command_queue_size, config.npc_commands_per_tick)
        self.follow = Followers(
            npc_capacity, config.npc_follow_reaim_ticks, config.npc_follow_reaim_distance
        )
        self.identities = Directory(config.npc_seed)
        self._changed: set[int] = set()  # NPC slots given a new path by a command
        self._spawned_now: dict[int, int] = {}  # net id -> cell, NPCs spawned this tick
        self._teleported: list[int] = []
        self._free_slots: collections.deque[tuple[int, int]] = collections.deque()
        self._next_slot = base + len(pinned)
        # A freed NPC slot waits until no crossing log can still name its old occupant.
        self._slot_quarantine = history_ticks + 1
        self._generated_base = npc_capacity  # generated identities of spawned NPCs start here
        if pinned:
            self._place_pinned(base, pinned)
            self._changed.clear()  # their first ENTER carries the path
        if self.npcs.n:
            nid = self.npcs.ids
            self.kind[nid] = EntityKind.NPC
            cells = self.grid.cells_of(self.npcs.x, self.npcs.y)
            self.cell[nid] = cells
            for i, c in zip(nid.tolist(), cells.tolist(), strict=True):
                self.members[c].add(i)

    def _place_pinned(self, first: int, pinned: list[PinnedNpc]) -> None:
        npcs = self.npcs
        npcs.grow(first + len(pinned))
        for k, p in enumerate(pinned):
            i = first + k
            npcs.qz[i] = npcs.quantise_z(p.z)
            if p.model is not None:
                npcs.models[i] = p.model
            else:
                npcs.models[i] = int(npcs.rng.integers(1, 400))
            self._stand(i, p.x, p.y, p.heading, p.wander)
            npcs.alive[i] = True
            self.identities.set(i, p.identity(self.config.npc_seed))
        npcs.advance(self.tick)

    # --- players joining and leaving (called between ticks) ---

    def spawn_player(
        self, nid: int, name: str, x: float, y: float, z: float, heading: float
    ) -> None:
        self.players.add(nid, name, x, y, z, heading, self.tick)
        self.kind[nid] = EntityKind.PLAYER
        self._pending.append((nid, -1, self.grid.cell_of(x, y)))

    def despawn_player(self, nid: int) -> None:
        self.players.remove(nid)
        self._pending.append((nid, -2, -1))

    # --- spectators' cameras (SPEC §3.8): a view without an entity ---

    def move_camera(self, nid: int, x: float, y: float, z: float, heading: float) -> None:
        """Put camera `nid` at (x, y, z). Its cell decides what its viewer sees; it is in no
        cell's members and in no player array's active set, so nobody sees it and the tick
        never moves it."""
        self.players.place(nid, x, y, z, heading)
        self.cell[nid] = self.grid.cell_of(x, y)

    def drop_camera(self, nid: int) -> None:
        self.cell[nid] = -1

    # --- world commands (see server/world/commands.py) ---

    def submit(self, cmd: Command) -> bool:
        """Queue a command for the next tick; False (counted, logged) if it cannot be."""
        why = problem(cmd)
        if why is not None:
            self.commands.reject("invalid", cmd, why)
            return False
        if isinstance(cmd, SpawnNpc):
            return self.spawn(cmd) is not None
        return self.commands.put(cmd)

    def spawn(self, cmd: SpawnNpc) -> int | None:
        """Queue a spawn and return the net id the NPC will have (None: rejected)."""
        why = problem(cmd)
        if why is not None:
            self.commands.reject("invalid", cmd, why)
            return None
        if len(self.commands) >= self.commands.limit:
            self.commands.reject("full", cmd, f"{self.commands.limit} queued")
            return None
        slot = self._reserve_slot()
        if slot is None:
            self.commands.reject("capacity", cmd, "raise NPC_SPAWN_CAPACITY")
            return None
        self.commands.put(cmd, slot)
        return self.npcs.first_id + slot

    def _reserve_slot(self) -> int | None:
        free = self._free_slots
        if free and free[0][1] <= self.tick:
            return free.popleft()[0]
        if self._next_slot < self.npcs.capacity:
            self._next_slot += 1
            return self._next_slot - 1
        return None

    def npc_slot(self, nid: int) -> int | None:
        """Slot of a live NPC, or None."""
        i = nid - self.npcs.first_id
        if 0 <= i < self.npcs.n and self.npcs.alive[i]:
            return i
        return None

    def identity(self, nid: int) -> NpcIdentity | None:
        """Who a live NPC is (computed on demand for generated NPCs)."""
        i = self.npc_slot(nid)
        return None if i is None else self.identities.get(i)

    def entity_xy(self, nid: int) -> tuple[float, float] | None:
        """Current position of a live entity (player or NPC), or None."""
        if not 0 <= nid < CAPACITY:
            return None
        k = self.kind[nid]
        if k == EntityKind.PLAYER and nid in self.players.names:
            return float(self.players.x[nid]), float(self.players.y[nid])
        i = self.npc_slot(nid) if k == EntityKind.NPC else None
        if i is None:
            return None
        return float(self.npcs.x[i]), float(self.npcs.y[i])

    def apply_command(self, cmd: Command, slot: int = -1) -> str | None:
        """Apply one command now (the tick calls this); returns why it was not applied."""
        if isinstance(cmd, SpawnNpc):
            if slot < 0:  # queued without `World.spawn` reserving a slot
                reserved = self._reserve_slot()
                if reserved is None:
                    return "capacity"
                slot = reserved
            self._spawn(cmd, slot)
            return None
        if isinstance(cmd, Teleport):
            return self._teleport(cmd)
        if isinstance(cmd, SetState):
            return self._set_state(cmd)
        i = self.npc_slot(cmd.npc)
        if i is None:
            return "stale"
        self.follow.stop(i)
        if isinstance(cmd, DespawnNpc):
            self._despawn(i)
        elif isinstance(cmd, WalkTo):
            speed = self.npcs.speed_q if cmd.speed is None else speed_to_wire(cmd.speed)
            qx, qy = self._quantised_now(i)
            wx, wy = self._q(cmd.x, cmd.y)
            self._set_path(i, qx, qy, wx, wy, speed, cmd.then_wander)
        elif isinstance(cmd, StopAndFace):
            self.stop_npc(i, cmd.target)
        elif isinstance(cmd, Follow):
            if self.entity_xy(cmd.target) is None or cmd.target == cmd.npc:
                return "stale"
            speed = self.npcs.speed_q if cmd.speed is None else speed_to_wire(cmd.speed)
            self.follow.start(i, cmd.target, cmd.distance, speed)
            self.follow.reaim(self, self.tick, only=np.array([i], dtype=np.int64))
        else:  # pragma: no cover - exhaustive
            raise TypeError(f"unknown command {cmd!r}; known: {COMMAND_TYPES}")
        return None

    def _q(self, x: float, y: float) -> tuple[int, int]:
        qx, qy = self.npcs.quantise_xy(np.array([x]), np.array([y]))
        return int(qx[0]), int(qy[0])

    def _quantised_now(self, i: int) -> tuple[int, int]:
        """The NPC's quantised position at this tick: where a new path starts."""
        x, y = self.npcs.positions_at(np.array([i]), self.tick)
        qx, qy = self.npcs.quantise_xy(x, y)
        return int(qx[0]), int(qy[0])

    def _set_path(
        self, i: int, qx: int, qy: int, wx: int, wy: int, speed: int, wander: bool
    ) -> None:
        idx = np.array([i], dtype=np.intp)
        self.npcs.set_paths(
            idx,
            np.array([qx]),
            np.array([qy]),
            np.array([wx]),
            np.array([wy]),
            np.array([speed]),
            self.tick,
            wander,
        )
        self._changed.add(i)
        nid = self.npcs.first_id + i
        self._npc_enter.pop(nid, None)
        self._npc_path.pop(nid, None)

    def repath(
        self, idx: I64, qx: I64, qy: I64, wx: I64, wy: I64, speed: I64, *, wander: bool
    ) -> None:
        """New paths from this tick for many NPCs (followers); each goes out as a PATH."""
        self.npcs.set_paths(idx.astype(np.intp), qx, qy, wx, wy, speed, self.tick, wander)
        first = self.npcs.first_id
        for i in idx.tolist():
            self._changed.add(i)
            self._npc_enter.pop(first + i, None)
            self._npc_path.pop(first + i, None)

    def stop_npc(self, i: int, target: int | None) -> None:
        """Stand still from this tick: a speed-0 path whose waypoint is what it faces."""
        qx, qy = self._quantised_now(i)
        pos = self.entity_xy(target) if target is not None else None
        if pos is not None:
            wx, wy = self._q(*pos)
        else:  # keep facing the way it was going
            wx, wy = int(self.npcs.wx[i]), int(self.npcs.wy[i])
        self._set_path(i, qx, qy, wx, wy, 0, False)

    def _stand(self, i: int, x: float, y: float, heading: float, wander: bool) -> None:
        """Put NPC `i` at (x, y): wandering from there, or standing facing `heading`."""
        qx, qy = self._q(x, y)
        if wander:
            rx, ry = self.npcs._random_points(1)
            self._set_path(i, qx, qy, int(rx[0]), int(ry[0]), self.npcs.speed_q, True)
        else:
            h = math.radians(heading)
            wx, wy = self._q(x - 5.0 * math.sin(h), y + 5.0 * math.cos(h))
            self._set_path(i, qx, qy, wx, wy, 0, False)

    def _spawn(self, cmd: SpawnNpc, i: int) -> None:
        npcs = self.npcs
        npcs.grow(i + 1)
        nid = npcs.first_id + i
        npcs.qz[i] = npcs.quantise_z(cmd.z)
        npcs.models[i] = cmd.model if cmd.model is not None else int(npcs.rng.integers(1, 400))
        self._stand(i, cmd.x, cmd.y, cmd.heading, cmd.wander)
        self._changed.discard(i)  # its ENTER carries the path
        npcs.alive[i] = True
        npcs.x[i], npcs.y[i] = npcs.sx[i], npcs.sy[i]
        self.kind[nid] = EntityKind.NPC
        self.npc_health[i] = 100
        self.state[nid] = 0
        self.identities.spawned += 1
        ident = generate_identity(
            self.config.npc_seed, self._generated_base + self.identities.spawned
        )
        ident = dataclasses.replace(
            ident,
            key=f"spawn:{self.config.npc_seed}:{self.identities.spawned}",
            name=cmd.name if cmd.name is not None else ident.name,
            role=cmd.role if cmd.role is not None else ident.role,
            faction=cmd.faction if cmd.faction is not None else ident.faction,
            personality=cmd.personality,
        )
        self.identities.set(i, ident)
        cell = self.grid.cell_of(float(npcs.sx[i]), float(npcs.sy[i]))
        self._pending.append((nid, -1, cell))
        self._spawned_now[nid] = cell

    def _despawn(self, i: int) -> None:
        npcs = self.npcs
        nid = npcs.first_id + i
        npcs.alive[i] = False
        npcs.wander[i] = False
        self.kind[nid] = 0
        self._changed.discard(i)
        spawned_cell = self._spawned_now.pop(nid, None)
        if spawned_cell is not None:  # spawned this very tick: nobody has seen it
            self._pending.remove((nid, -1, spawned_cell))
        else:
            old = int(self.cell[nid])
            self.cell[nid] = -1  # out of the NPC crossing scan from now on
            self._pending.append((nid, old, -1))
        self._npc_enter.pop(nid, None)
        self._npc_path.pop(nid, None)
        self.identities.forget(i)
        self._free_slots.append((i, self.tick + self._slot_quarantine))

    def _teleport(self, cmd: Teleport) -> str | None:
        nid = cmd.entity
        if self.kind[nid] == EntityKind.PLAYER and nid in self.players.names:
            p = self.players
            h = float(p.heading[nid]) if cmd.heading is None else cmd.heading
            b = self.bounds
            x = min(max(cmd.x, b.min_x), b.max_x)
            y = min(max(cmd.y, b.min_y), b.max_y)
            z = min(max(cmd.z, b.min_z), b.max_z)
            p.place(nid, x, y, z, h)
            self._player_enter.pop(nid, None)
            self._teleported.append(nid)
            return None
        i = self.npc_slot(nid)
        if i is None:
            return "stale"
        self.follow.stop(i)
        self.npcs.qz[i] = self.npcs.quantise_z(cmd.z)
        if cmd.heading is None:
            qx, qy = self._q(cmd.x, cmd.y)
            self._set_path(i, qx, qy, qx, qy, 0, False)
        else:
            self._stand(i, cmd.x, cmd.y, cmd.heading, False)
        return None

    def _set_state(self, cmd: SetState) -> str | None:
        nid = cmd.entity
        if self.kind[nid] == EntityKind.PLAYER and nid in self.players.names:
            if cmd.health is not None:
                self.players.health[nid] = cmd.health
                self._player_enter.pop(nid, None)
        else:
            i = self.npc_slot(nid)
            if i is None:
                return "stale"
            if cmd.health is not None:
                self.npc_health[i] = cmd.health
        if cmd.state is not None:
            self.state[nid] = cmd.state
        return None

    # --- the tick ---

    def step(self) -> TickLog:
        """Apply queued commands, advance one tick and log what changed."""
        self.tick += 1
        t = self.tick
        if self.commands.queue:
            self.commands.apply(self)
        if self.follow.due(t):
            self.follow.reaim(self, t)
        arrived = self.npcs.advance(t)
        if self._changed:
            arrived = np.union1d(arrived, np.fromiter(self._changed, dtype=np.intp))
            self._changed.clear()
        self._spawned_now.clear()
        for i in arrived.tolist():
            self._npc_enter.pop(i + 1, None)
            self._npc_path.pop(i + 1, None)
        self.players.quantise(t)

        ids_parts: list[I64] = []
        from_parts: list[I32] = []
        to_parts: list[I32] = []
        if self.npcs.n:
            new = self.grid.cells_of(self.npcs.x, self.npcs.y)
            first = self.npcs.first_id
            old = self.cell[first : first + self.npcs.n]  # NPC net ids are consecutive
            moved = (new != old).nonzero()[0]
            if moved.size:
                # Despawned slots and NPCs spawned this tick (cell -1) cross via `_pending`.
                moved = moved[old[moved] >= 0]
                ids_parts.append(self.npcs.ids[moved])
                from_parts.append(old[moved])
                to_parts.append(new[moved])
        pids = self.players.ids
        if pids.size:
            new = self.grid.cells_of(self.players.x.take(pids), self.players.y.take(pids))
            old = self.cell.take(pids)
            moved = ((new != old) & (old >= 0)).nonzero()[0]
            if moved.size:
                ids_parts.append(pids[moved])
                from_parts.append(old[moved])
                to_parts.append(new[moved])
        if self._pending:
            pend = self._pending
            self._pending = []
            ids_parts.append(np.array([p[0] for p in pend], dtype=np.int64))
            # from == -2 marks a despawn: its real from-cell is the cell the entity is in by
            # then, which is where an earlier entry of this same batch put it (a player who
            # joins and quits between two ticks), else its current cell. Reading only the
            # current cell left such a player in its spawn cell's members for good: a ghost
            # in every later FULL snapshot, with no name.
            at: dict[int, int] = {}
            froms: list[int] = []
            for e, f, to in pend:
                froms.append(at.get(e, int(self.cell[e])) if f == -2 else f)
                at[e] = to
            from_parts.append(np.array(froms, dtype=np.int32))
            to_parts.append(np.array([p[2] for p in pend], dtype=np.int32))
        if ids_parts:
            cid = np.concatenate(ids_parts)
            cfrom = np.concatenate(from_parts).astype(np.int32)
            cto = np.concatenate(to_parts).astype(np.int32)
            members = self.members
            for e, f, to in zip(cid.tolist(), cfrom.tolist(), cto.tolist(), strict=True):
                if f >= 0:
                    members[f].discard(e)
                if to >= 0:
                    members[to].add(e)
                self.cell[e] = to
        else:
            cid = np.zeros(0, dtype=np.int64)
            cfrom = cto = np.zeros(0, dtype=np.int32)
        log = TickLog(t, cid, cfrom, cto, self.npcs.ids[arrived])
        if self._teleported:
            log.teleports = self._teleported
            self._teleported = []
        self.logs.append(log)
        return log

    # --- encoded pieces, each made once and shared by every client that needs it ---

    def enter_record(self, nid: int) -> bytes:
        """ENTER record with the entity's current full state."""
        if nid < self._npc_end:
            rec = self._npc_enter.get(nid)
            if rec is None:
                i = nid - self.npcs.first_id
                rec = encode_npc_enter(nid, int(self.npcs.models[i]), self.npc_path(nid))
                self._npc_enter[nid] = rec
            return rec
        if self._player_enter_tick != self.tick:
            self._player_enter.clear()
            self._player_enter_tick = self.tick
        rec = self._player_enter.get(nid)
        if rec is None:
            p = self.players
            rec = encode_player_enter(
                nid,
                int(p.qx[nid]),
                int(p.qy[nid]),
                int(p.qz[nid]),
                int(p.qh[nid]),
                int(p.health[nid]),
                p.names.get(nid, ""),
            )
            self._player_enter[nid] = rec
        return rec

    def npc_path(self, nid: int) -> NpcPath:
        return self.npcs.path(nid - self.npcs.first_id)

    def path_record(self, nid: int) -> bytes:
        rec = self._npc_path.get(nid)
        if rec is None:
            rec = encode_path(nid, self.npc_path(nid))
            self._npc_path[nid] = rec
        return rec

    def entities_in(self, cells: list[int]) -> list[int]:
        out: list[int] = []
        members = self.members
        for c in cells:
            s = members.get(c)
            if s:
                out.extend(s)
        return out
