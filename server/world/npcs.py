"""NPCs as a structure of arrays, advanced with numpy in one pass per tick.

Why paths: an NPC walking a straight line is fully described by where it started, where it is
going, its speed and the tick it set off. Clients extrapolate that exactly (`NpcPath`), so the
server sends one PATH record per leg instead of a position 30 times a second. The server
simulates from the same quantised numbers it sends, so neither side drifts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from protocol.quant import QMAX, WorldBounds, speed_to_wire
from protocol.state import NpcPath

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Npcs:
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
    ) -> None:
        self.n = count
        self.first_id = first_id
        self.ids = np.arange(first_id, first_id + count, dtype=np.int64)
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
        self.models = self.rng.integers(1, 400, size=count, dtype=np.int64)
        # Quantised path: start (qx, qy, qz), waypoint (wx, wy), start tick.
        self.qx, self.qy = self._random_points(count)
        qz0 = round((0.0 - bounds.min_z) / self.step_z) if bounds.min_z <= 0 <= bounds.max_z else 0
        self.qz = np.full(count, qz0, dtype=np.int64)
        self.wx, self.wy = self._random_points(count)
        self.t0 = np.full(count, start_tick, dtype=np.int64)
        self.x = np.zeros(count)
        self.y = np.zeros(count)
        self.z = bounds.min_z + self.qz * (bounds.max_z - bounds.min_z) / QMAX
        self._derive(np.arange(count))
        self.advance(start_tick)

    def _random_points(self, n: int) -> tuple[I64, I64]:
        x0, y0, x1, y1 = self.area
        b = self.bounds
        xs = self.rng.uniform(x0, x1, n)
        ys = self.rng.uniform(y0, y1, n)
        qx = np.clip(np.rint((xs - b.min_x) / self.step_x), 0, QMAX).astype(np.int64)
        qy = np.clip(np.rint((ys - b.min_y) / self.step_y), 0, QMAX).astype(np.int64)
        return qx, qy

    def _derive(self, idx: npt.NDArray[np.intp]) -> None:
        """Recompute float start, waypoint and direction for NPCs whose path changed.

        The arithmetic is `NpcPath.position_at`'s, operation for operation (dequantise as
        min + q * extent / 65535, distance as sqrt(dx*dx + dy*dy)), so the server's positions
        are bit-identical to what a client following SPEC.md computes."""
        b = self.bounds
        if not hasattr(self, "sx"):
            self.sx = np.zeros(self.n)
            self.sy = np.zeros(self.n)
            self.ex = np.zeros(self.n)
            self.ey = np.zeros(self.n)
            self.dx = np.zeros(self.n)
            self.dy = np.zeros(self.n)
            self.dist = np.zeros(self.n)
        ext_x = b.max_x - b.min_x
        ext_y = b.max_y - b.min_y
        sx = b.min_x + self.qx[idx] * ext_x / QMAX
        sy = b.min_y + self.qy[idx] * ext_y / QMAX
        ex = b.min_x + self.wx[idx] * ext_x / QMAX
        ey = b.min_y + self.wy[idx] * ext_y / QMAX
        dx = ex - sx
        dy = ey - sy
        self.sx[idx], self.sy[idx], self.ex[idx], self.ey[idx] = sx, sy, ex, ey
        self.dx[idx], self.dy[idx], self.dist[idx] = dx, dy, np.sqrt(dx * dx + dy * dy)

    def advance(self, tick: int) -> npt.NDArray[np.intp]:
        """Move every NPC to its position at `tick`; start new legs for those that arrived.

        Returns the indices of NPCs whose path changed (they need a PATH record)."""
        if self.n == 0:
            return np.zeros(0, dtype=np.intp)
        travelled = self.speed * np.maximum(0, tick - self.t0) / self.tick_rate
        arrived = np.flatnonzero(travelled >= self.dist)
        if arrived.size:
            self.qx[arrived] = self.wx[arrived]
            self.qy[arrived] = self.wy[arrived]
            nx, ny = self._random_points(arrived.size)
            self.wx[arrived] = nx
            self.wy[arrived] = ny
            self.t0[arrived] = tick
            self._derive(arrived)
            travelled[arrived] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            f = travelled / self.dist
        done = travelled >= self.dist
        np.copyto(self.x, np.where(done, self.ex, self.sx + self.dx * f))
        np.copyto(self.y, np.where(done, self.ey, self.sy + self.dy * f))
        return arrived

    def path(self, i: int) -> NpcPath:
        return NpcPath(
            int(self.qx[i]),
            int(self.qy[i]),
            int(self.qz[i]),
            int(self.wx[i]),
            int(self.wy[i]),
            self.speed_q,
            int(self.t0[i]),
        )
