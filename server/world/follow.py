"""NPCs following an entity: re-aimed in one vectorised pass, at a bounded rate.

Why bounded: every re-aim is a new PATH record to every viewer. The world checks followers
only every NPC_FOLLOW_REAIM_TICKS ticks, and re-aims one only when its target has moved more
than NPC_FOLLOW_REAIM_DISTANCE from where it was aimed at, so a follower costs a PATH record
per half second at most while its target moves, and nothing while the target stands still.

Each re-aim is an ordinary path: it starts at the follower's quantised position at the tick
of the re-aim and walks to a point `distance` metres short of the target (or, already that
close, stands facing the target: speed 0, waypoint on the target, SPEC.md §7). Clients
extrapolate it like any other path, bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from protocol.catalogue import EntityKind

if TYPE_CHECKING:
    from server.world.world import World

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Followers:
    def __init__(self, capacity: int, every: int, threshold: float) -> None:
        self.target = np.full(capacity, -1, dtype=np.int64)  # net id followed, per NPC slot
        self.distance = np.zeros(capacity)
        self.speed_q = np.zeros(capacity, dtype=np.int64)
        self.aim_x = np.zeros(capacity)
        self.aim_y = np.zeros(capacity)
        self.every = every
        self.threshold2 = threshold * threshold
        self._active: I64 = np.zeros(0, dtype=np.int64)
        self._dirty = False
        self.count = 0

    @property
    def active(self) -> I64:
        if self._dirty:
            self._active = np.flatnonzero(self.target >= 0).astype(np.int64)
            self._dirty = False
        return self._active

    def start(self, slot: int, target: int, distance: float, speed_q: int) -> None:
        if self.target[slot] < 0:
            self.count += 1
        self.target[slot] = target
        self.distance[slot] = distance
        self.speed_q[slot] = speed_q
        # Aimed at nowhere: the first `reaim` aims it whatever the target's position.
        self.aim_x[slot] = np.inf
        self.aim_y[slot] = np.inf
        self._dirty = True

    def stop(self, slot: int) -> None:
        if self.target[slot] >= 0:
            self.count -= 1
            self.target[slot] = -1
            self._dirty = True

    def due(self, tick: int) -> bool:
        return self.count > 0 and tick % self.every == 0

    def reaim(self, world: World, tick: int, only: I64 | None = None) -> None:
        """Re-aim followers whose target moved; stop those whose target is gone."""
        slots = self.active if only is None else only
        if slots.size == 0:
            return
        npcs = world.npcs
        tg = self.target[slots]
        kind = world.kind[tg]
        is_npc = kind == EntityKind.NPC
        nslot = np.clip(tg - npcs.first_id, 0, max(npcs.n - 1, 0))
        gone = (
            ~((kind == EntityKind.PLAYER) | is_npc)
            | (world.cell[tg] < 0)
            | (tg == slots + npcs.first_id)
        )
        tx = np.where(is_npc, npcs.x[nslot] if npcs.n else 0.0, world.players.x[tg])
        ty = np.where(is_npc, npcs.y[nslot] if npcs.n else 0.0, world.players.y[tg])
        if gone.any():
            for s in slots[gone].tolist():
                self.stop(s)
                world.stop_npc(s, None)
        moved = (
            (tx - self.aim_x[slots]) ** 2 + (ty - self.aim_y[slots]) ** 2 > self.threshold2
        ) & ~gone
        if not moved.any():
            return
        r = slots[moved]
        tx, ty = tx[moved], ty[moved]
        cx, cy = npcs.positions_at(r, tick)
        qx, qy = npcs.quantise_xy(cx, cy)
        b = npcs.bounds
        sx = b.min_x + qx * (b.max_x - b.min_x) / 65535
        sy = b.min_y + qy * (b.max_y - b.min_y) / 65535
        vx = tx - sx
        vy = ty - sy
        d = np.sqrt(vx * vx + vy * vy)
        stop = self.distance[r]
        close = d <= stop
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(close, 0.0, (d - stop) / d)
        ax, ay = npcs.quantise_xy(sx + vx * k, sy + vy * k)
        fx, fy = npcs.quantise_xy(tx, ty)
        wx = np.where(close, fx, ax)
        wy = np.where(close, fy, ay)
        speed = np.where(close, 0, self.speed_q[r])
        world.repath(r, qx, qy, wx, wy, speed, wander=False)
        self.aim_x[r] = tx
        self.aim_y[r] = ty
