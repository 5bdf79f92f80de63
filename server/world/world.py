"""The world: every entity, the grid they live on, and the log of what changed.

The tick calls `step` once; it advances NPCs, quantises players, re-bins everyone into grid
cells and records *crossings* (entity, from cell, to cell) and *path changes* per tick. The
replication steps read those logs instead of diffing per client, which is what keeps the cost
of enter/leave proportional to what actually changed.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from config import Config
from protocol.catalogue import EntityKind
from protocol.quant import WorldBounds
from protocol.state import NpcPath, encode_npc_enter, encode_path, encode_player_enter
from server.world.grid import Grid
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
    def __init__(self, config: Config, history_ticks: int) -> None:
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
        self.npcs = Npcs(
            config.npc_count,
            1,
            self.bounds,
            config.spawn_area_size,
            config.npc_speed,
            config.tickrate,
            config.npc_seed,
            start_tick=0,
        )
        self.players = Players(self.bounds)
        self.net_ids = NetIds(
            1 + config.npc_count,
            quarantine_ticks=int((config.resume_window + 5) * config.tickrate) + history_ticks,
        )
        self.cell = np.full(CAPACITY, -1, dtype=np.int32)
        self.kind = np.zeros(CAPACITY, dtype=np.uint8)
        self.members: dict[int, set[int]] = collections.defaultdict(set)
        self.history = history_ticks
        self.logs: collections.deque[TickLog] = collections.deque(maxlen=history_ticks)
        self._pending: list[tuple[int, int, int]] = []  # (id, from, to) from outside the tick
        self._npc_end = 1 + config.npc_count  # NPC net ids are 1 .. npc_count
        self._npc_enter: dict[int, bytes] = {}
        self._npc_path: dict[int, bytes] = {}
        self._player_enter: dict[int, bytes] = {}
        self._player_enter_tick = -1
        if self.npcs.n:
            nid = self.npcs.ids
            self.kind[nid] = EntityKind.NPC
            cells = self.grid.cells_of(self.npcs.x, self.npcs.y)
            self.cell[nid] = cells
            for i, c in zip(nid.tolist(), cells.tolist(), strict=True):
                self.members[c].add(i)

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

    # --- the tick ---

    def step(self) -> TickLog:
        """Advance one tick and log what changed."""
        self.tick += 1
        t = self.tick
        arrived = self.npcs.advance(t)
        for i in arrived.tolist():
            self._npc_enter.pop(i + 1, None)
            self._npc_path.pop(i + 1, None)
        self.players.quantise(t)

        ids_parts: list[I64] = []
        from_parts: list[I32] = []
        to_parts: list[I32] = []
        if self.npcs.n:
            new = self.grid.cells_of(self.npcs.x, self.npcs.y)
            old = self.cell[self.npcs.ids]
            moved = np.flatnonzero(new != old)
            if moved.size:
                ids_parts.append(self.npcs.ids[moved])
                from_parts.append(old[moved])
                to_parts.append(new[moved])
        pids = self.players.ids
        if pids.size:
            new = self.grid.cells_of(self.players.x[pids], self.players.y[pids])
            old = self.cell[pids]
            moved = np.flatnonzero((new != old) & (old >= 0))
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
