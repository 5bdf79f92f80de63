"""The spatial grid behind interest management.

Why cells rather than exact distances: a client's view is then a fixed stencil of cells around
its own cell, the same for every client, so the server can encode each cell's changes once and
hand every client contiguous slices of shared bytes. Cells are numbered row-major
(`row * cols + col`) so that a row's cells are adjacent in a buffer sorted by cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from protocol.quant import WorldBounds

NEAR, MID, FAR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Span:
    """Cells (dy, dx0..dx1) relative to the viewer's cell, all of one tier."""

    dy: int
    dx0: int
    dx1: int
    tier: int


class Grid:
    def __init__(
        self,
        bounds: WorldBounds,
        cell_size: float,
        radius: float,
        near: float,
        mid: float,
    ) -> None:
        self.bounds = bounds
        self.cell = float(cell_size)
        self.radius = float(radius)
        self.cols = max(1, math.ceil((bounds.max_x - bounds.min_x) / cell_size))
        self.rows = max(1, math.ceil((bounds.max_y - bounds.min_y) / cell_size))
        self.n_cells = self.cols * self.rows
        # K: how many cells the stencil reaches in each direction.
        self.reach = math.floor(radius / cell_size + 0.5)
        k = self.reach
        size = 2 * k + 1
        tiers = np.full((size, size), -1, dtype=np.int8)
        for dy in range(-k, k + 1):
            for dx in range(-k, k + 1):
                d = self.offset_distance(dx, dy)
                if d <= radius:
                    tiers[dy + k, dx + k] = NEAR if d <= near else MID if d <= mid else FAR
        self.tiers = tiers
        self.visible = tiers >= 0
        self.offsets: list[tuple[int, int]] = [
            (dx, dy)
            for dy in range(-k, k + 1)
            for dx in range(-k, k + 1)
            if tiers[dy + k, dx + k] >= 0
        ]

    def offset_distance(self, dx: int, dy: int) -> float:
        """Distance from the centre of a cell to the nearest point of the cell (dx, dy) away."""
        ex = max(0.0, abs(dx) - 0.5) * self.cell
        ey = max(0.0, abs(dy) - 0.5) * self.cell
        return math.hypot(ex, ey)

    # --- cell arithmetic ---

    def cell_of(self, x: float, y: float) -> int:
        col = int((x - self.bounds.min_x) // self.cell)
        row = int((y - self.bounds.min_y) // self.cell)
        col = 0 if col < 0 else self.cols - 1 if col >= self.cols else col
        row = 0 if row < 0 else self.rows - 1 if row >= self.rows else row
        return row * self.cols + col

    def cells_of(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int32]:
        cell = self._index(y, self.bounds.min_y, self.rows)
        cell *= self.cols
        cell += self._index(x, self.bounds.min_x, self.cols)
        return cell

    def _index(self, v: npt.NDArray[np.float64], origin: float, n: int) -> npt.NDArray[np.int32]:
        """`(v - origin) // cell` clamped to [0, n), without numpy's float `//` (an fmod per
        element: ~10x the cost of the rest, every tick, for every NPC).

        `//` is the exact floor of the quotient; floor(fl(a / cell)) is too, except where the
        division rounded up onto an integer. So wherever fl(a / cell) is a whole number, `//`
        decides; elsewhere the two agree exactly."""
        a = v - origin
        q = a / self.cell
        f = np.floor(q)
        whole = q == f
        if whole.any():
            f[whole] = a[whole] // self.cell
        out = f.astype(np.int32)
        np.maximum(out, 0, out=out)
        np.minimum(out, n - 1, out=out)
        return out

    def sees(self, viewer_cell: int, cell: int) -> bool:
        """Whether a viewer in `viewer_cell` sees entities in `cell`."""
        if viewer_cell < 0 or cell < 0:
            return False
        k = self.reach
        dx = cell % self.cols - viewer_cell % self.cols
        dy = cell // self.cols - viewer_cell // self.cols
        if dx < -k or dx > k or dy < -k or dy > k:
            return False
        return bool(self.visible[dy + k, dx + k])

    def sees_many(
        self, viewer_cells: npt.NDArray[np.int32], cells: npt.NDArray[np.int32]
    ) -> npt.NDArray[np.bool_]:
        """(viewers x cells) visibility matrix; negative cells (spawned/despawned) see nothing."""
        k = self.reach
        v = viewer_cells[:, None]
        c = cells[None, :]
        dx = c % self.cols - v % self.cols
        dy = c // self.cols - v // self.cols
        inside = (np.abs(dx) <= k) & (np.abs(dy) <= k) & (c >= 0) & (v >= 0)
        out: npt.NDArray[np.bool_] = np.zeros(dx.shape, dtype=np.bool_)
        out[inside] = self.visible[dy[inside] + k, dx[inside] + k]
        return out

    def view_cells(self, viewer_cell: int) -> list[int]:
        """Every existing cell a viewer in `viewer_cell` sees."""
        col, row = viewer_cell % self.cols, viewer_cell // self.cols
        out = []
        for dx, dy in self.offsets:
            c, r = col + dx, row + dy
            if 0 <= c < self.cols and 0 <= r < self.rows:
                out.append(r * self.cols + c)
        return out

    def view_change(self, old_cell: int, new_cell: int) -> tuple[list[int], list[int]]:
        """(cells that came into view, cells that went out of view) when a viewer moves."""
        old = set(self.view_cells(old_cell)) if old_cell >= 0 else set()
        new = set(self.view_cells(new_cell)) if new_cell >= 0 else set()
        return sorted(new - old), sorted(old - new)

    # --- row spans for frame assembly ---

    @cached_property
    def row_spans(self) -> dict[int, list[tuple[int, int, int]]]:
        """Per tier set (1 = near, 2 = near+mid, 3 = all): the stencil as (dy, dx0, dx1) runs.

        Tiers grow outward from the viewer's column in every row, so each row's cells of the
        due tiers form one contiguous run: one slice of the shared buffer per row."""
        k = self.reach
        out: dict[int, list[tuple[int, int, int]]] = {}
        for due in (1, 2, 3):
            spans = []
            for dy in range(-k, k + 1):
                xs = [dx for dx in range(-k, k + 1) if 0 <= self.tiers[dy + k, dx + k] < due]
                if xs:
                    assert xs == list(range(xs[0], xs[-1] + 1)), "tier run not contiguous"
                    spans.append((dy, xs[0], xs[-1]))
            out[due] = spans
        return out

    def span_keys(
        self, viewer_cells: npt.NDArray[np.int32], due: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(lo, hi) cell keys, shape (viewers, spans), of each viewer's row runs for `due`.

        Runs falling outside the world get lo > hi so they select nothing."""
        spans = np.asarray(self.row_spans[due], dtype=np.int64).reshape(-1, 3)
        col = (viewer_cells % self.cols).astype(np.int64)[:, None]
        row = (viewer_cells // self.cols).astype(np.int64)[:, None] + spans[None, :, 0]
        lo = np.maximum(col + spans[None, :, 1], 0)
        hi = np.minimum(col + spans[None, :, 2], self.cols - 1)
        bad = (row < 0) | (row >= self.rows) | (lo > hi)
        base = row * self.cols
        lo_key = np.where(bad, 1, base + lo)
        hi_key = np.where(bad, 0, base + hi)
        return lo_key, hi_key
