"""NPCs as a structure of arrays, advanced with numpy in one pass per tick.

Why paths: an NPC walking a straight line is fully described by where it started, where it is
going, its speed and the tick it set off. Clients extrapolate that exactly (`NpcPath`), so the
server sends one PATH record per leg instead of a position 30 times a second. The server
simulates from the same quantised numbers it sends, so neither side drifts.

Slots: the arrays are allocated for `capacity` NPCs (the configured ones, the pinned ones and
headroom for NPCs spawned by world commands), but the public arrays are views of the first
`n` slots only (the highest slot ever used), so headroom costs nothing per tick. A despawned
slot stays in the arrays, not alive and not wandering, until a spawn reuses it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from protocol.quant import QMAX, WorldBounds, speed_to_wire
from protocol.state import NpcPath

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
IDX = npt.NDArray[np.intp]


class Npcs:
    # Views of the first `n` slots of the backing arrays (rebound by `_bind`).
    qx: I64
    qy: I64
    qz: I64
    wx: I64
    wy: I64
    t0: I64
    speed_qs: I64  # per-NPC wire speed (tenths of m/s): 0 = standing, facing the waypoint
    models: I64
    x: F64
    y: F64
    z: F64
    sx: F64
    sy: F64
    ex: F64
    ey: F64
    dx: F64
    dy: F64
    dist: F64
    speeds: F64  # speed_qs / 10.0, the exact float a client computes
    wander: B  # on arrival, pick a new random waypoint (else stay at the waypoint)
    alive: B
    ids: I64

    def __init__(
        self,
        count: int,
        first_id: int,
        bounds: WorldBounds,
        spawn_size: float,
        speed: float,
        tick_rate: int,
        seed: int,
        start_tick: int = 0,
        capacity: int | None = None,
    ) -> None:
        cap = max(count, capacity if capacity is not None else count)
        self.capacity = cap
        self.n = count
        self.first_id = first_id
        self.bounds = bounds
        self.tick_rate = tick_rate
        self.rng = np.random.default_rng(seed)
        cx = (bounds.min_x + bounds.max_x) / 2
        cy = (bounds.min_y + bounds.max_y) / 2
        half = spawn_size / 2
        self.area = (
            max(bounds.min_x, cx - half),
            max(bounds.min_y, cy - half),
            min(bounds.max_x, cx + half),
            min(bounds.max_y, cy + half),
        )
        self.step_x = (bounds.max_x - bounds.min_x) / QMAX
        self.step_y = (bounds.max_y - bounds.min_y) / QMAX
        self.step_z = (bounds.max_z - bounds.min_z) / QMAX
        self.speed_q = speed_to_wire(speed)
        self.speed = self.speed_q / 10.0
        self._i = {k: np.zeros(cap, dtype=np.int64) for k in _INT_FIELDS}
        self._f = {k: np.zeros(cap) for k in _FLOAT_FIELDS}
        self._b = {k: np.zeros(cap, dtype=np.bool_) for k in _BOOL_FIELDS}
        self._bind()
        self.models[:] = self.rng.integers(1, 400, size=count, dtype=np.int64)
        # Quantised path: start (qx, qy, qz), waypoint (wx, wy), start tick.
        self.qx[:], self.qy[:] = self._random_points(count)
        self.qz0 = (
            round((0.0 - bounds.min_z) / self.step_z) if bounds.min_z <= 0 <= bounds.max_z else 0
        )
        self.qz[:] = self.qz0
        self.wx[:], self.wy[:] = self._random_points(count)
        self.t0[:] = start_tick
        self.speed_qs[:] = self.speed_q
        self.speeds[:] = self.speed
        self.wander[:] = True
        self.alive[:] = True
        self._derive(np.arange(count))
        self.advance(start_tick)

    def _bind(self) -> None:
        n = self.n
        i, f, b = self._i, self._f, self._b
        self.qx, self.qy, self.qz = i["qx"][:n], i["qy"][:n], i["qz"][:n]
        self.wx, self.wy, self.t0 = i["wx"][:n], i["wy"][:n], i["t0"][:n]
        self.speed_qs, self.models = i["speed_qs"][:n], i["models"][:n]
        self.x, self.y, self.z = f["x"][:n], f["y"][:n], f["z"][:n]
        self.sx, self.sy, self.ex, self.ey = f["sx"][:n], f["sy"][:n], f["ex"][:n], f["ey"][:n]
        self.dx, self.dy, self.dist = f["dx"][:n], f["dy"][:n], f["dist"][:n]
        self.speeds = f["speeds"][:n]
        self.wander, self.alive = b["wander"][:n], b["alive"][:n]
        self.ids = np.arange(self.first_id, self.first_id + n, dtype=np.int64)

    def grow(self, n: int) -> None:
        """Make slots below `n` part of the simulated arrays (a spawn into a new slot)."""
        if n > self.n:
            if n > self.capacity:
                raise ValueError(f"NPC slot {n - 1} beyond capacity {self.capacity}")
            self.n = n
            self._bind()

    def _random_points(self, n: int) -> tuple[I64, I64]:
        x0, y0, x1, y1 = self.area
        b = self.bounds
        xs = self.rng.uniform(x0, x1, n)
        ys = self.rng.uniform(y0, y1, n)
        qx = np.clip(np.rint((xs - b.min_x) / self.step_x), 0, QMAX).astype(np.int64)
        qy = np.clip(np.rint((ys - b.min_y) / self.step_y), 0, QMAX).astype(np.int64)
        return qx, qy

    def quantise_xy(self, xs: F64, ys: F64) -> tuple[I64, I64]:
        b = self.bounds
        qx = np.clip(np.rint((xs - b.min_x) / self.step_x), 0, QMAX).astype(np.int64)
        qy = np.clip(np.rint((ys - b.min_y) / self.step_y), 0, QMAX).astype(np.int64)
        return qx, qy

    def quantise_z(self, z: float) -> int:
        b = self.bounds
        return int(np.clip(np.rint((z - b.min_z) / self.step_z), 0, QMAX))

    def _derive(self, idx: IDX) -> None:
        """Recompute float start, waypoint and direction for NPCs whose path changed.

        The arithmetic is `NpcPath.position_at`'s, operation for operation (dequantise as
        min + q * extent / 65535, distance as sqrt(dx*dx + dy*dy)), so the server's positions
        are bit-identical to what a client following SPEC.md computes."""
        b = self.bounds
        ext_x = b.max_x - b.min_x
        ext_y = b.max_y - b.min_y
        ext_z = b.max_z - b.min_z
        sx = b.min_x + self.qx[idx] * ext_x / QMAX
        sy = b.min_y + self.qy[idx] * ext_y / QMAX
        ex = b.min_x + self.wx[idx] * ext_x / QMAX
        ey = b.min_y + self.wy[idx] * ext_y / QMAX
        dx = ex - sx
        dy = ey - sy
        self.sx[idx], self.sy[idx], self.ex[idx], self.ey[idx] = sx, sy, ex, ey
        self.dx[idx], self.dy[idx], self.dist[idx] = dx, dy, np.sqrt(dx * dx + dy * dy)
        self.z[idx] = b.min_z + self.qz[idx] * ext_z / QMAX

    def advance(self, tick: int) -> IDX:
        """Move every NPC to its position at `tick`; start new legs for wanderers that arrived.

        Returns the indices of NPCs whose path changed (they need a PATH record)."""
        if self.n == 0:
            return np.zeros(0, dtype=np.intp)
        # In place and through ufuncs, over 10,000s of NPCs every tick; the arithmetic is the
        # one `positions_at` spells out, operation for operation (so bit for bit).
        travelled = np.subtract(tick, self.t0, dtype=np.int64)
        np.maximum(travelled, 0, out=travelled)
        travelled = travelled * self.speeds
        travelled /= self.tick_rate
        arrived = ((travelled >= self.dist) & self.wander).nonzero()[0]
        if arrived.size:
            self.qx[arrived] = self.wx[arrived]
            self.qy[arrived] = self.wy[arrived]
            nx, ny = self._random_points(arrived.size)
            self.wx[arrived] = nx
            self.wy[arrived] = ny
            self.t0[arrived] = tick
            # A walk ordered at another speed ends here: wandering is at the base speed.
            self.speed_qs[arrived] = self.speed_q
            self.speeds[arrived] = self.speed
            self._derive(arrived)
            travelled[arrived] = 0.0
        done = travelled >= self.dist
        # A leg of length 0 divides by 0 (inf or NaN): such an NPC is done, put at its end.
        with np.errstate(divide="ignore", invalid="ignore"):
            travelled /= self.dist  # now the fraction of the leg walked
            for pos, start, step, end in (
                (self.x, self.sx, self.dx, self.ex),
                (self.y, self.sy, self.dy, self.ey),
            ):
                np.multiply(step, travelled, out=pos)
                pos += start
                np.copyto(pos, end, where=done)
        return arrived

    def positions_at(self, idx: IDX, tick: int) -> tuple[F64, F64]:
        """Positions of some NPCs at `tick` on their current paths (same arithmetic as
        `advance`), for commands that start a new path from where an NPC is now."""
        travelled = self.speeds[idx] * np.maximum(0, tick - self.t0[idx]) / self.tick_rate
        dist = self.dist[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = travelled / dist
        done = travelled >= dist
        x = np.where(done, self.ex[idx], self.sx[idx] + self.dx[idx] * f)
        y = np.where(done, self.ey[idx], self.sy[idx] + self.dy[idx] * f)
        return x, y

    def set_paths(
        self,
        idx: IDX,
        qx: I64,
        qy: I64,
        wx: I64,
        wy: I64,
        speed_q: I64,
        tick: int,
        wander: bool | B,
    ) -> None:
        """Give NPCs new paths that start at `tick` (their positions follow at `advance`)."""
        self.qx[idx], self.qy[idx] = qx, qy
        self.wx[idx], self.wy[idx] = wx, wy
        self.speed_qs[idx] = speed_q
        self.speeds[idx] = speed_q / 10.0
        self.t0[idx] = tick
        self.wander[idx] = wander
        self._derive(idx)

    def path(self, i: int) -> NpcPath:
        return NpcPath(
            int(self.qx[i]),
            int(self.qy[i]),
            int(self.qz[i]),
            int(self.wx[i]),
            int(self.wy[i]),
            int(self.speed_qs[i]),
            int(self.t0[i]),
        )


_INT_FIELDS = ("qx", "qy", "qz", "wx", "wy", "t0", "speed_qs", "models")
_FLOAT_FIELDS = ("x", "y", "z", "sx", "sy", "ex", "ey", "dx", "dy", "dist", "speeds")
_BOOL_FIELDS = ("wander", "alive")
