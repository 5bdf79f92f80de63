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
from typing import Any

import numpy as np
import numpy.typing as npt

from protocol.quant import WorldBounds

NEAR, MID, FAR = 0, 1, 2
I64 = npt.NDArray[np.int64]


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
        # For `sees_many`: each cell has a key row * W + col (W = 2 * cols + 1), a viewer's
        # cell the same key shifted so that cell key - viewer key is the pair's index in
        # `_band`: the stencil in rows W wide (so no column difference reaches the next row)
        # between two all-False rows. A difference beyond the band is clipped onto its first
        # or last element, both False. Slot 0 (keys are taken at cell + 1, mode="clip")
        # stands for any negative cell: keyed far beyond the band, on one side for cells
        # and the other for viewers, it never sees nor is seen, even by another one.
        W = 2 * self.cols + 1
        band = np.zeros((2 * k + 3, W), dtype=np.bool_)
        m = min(k, self.cols)  # a grid narrower than the stencil uses its middle only
        band[1:-1, self.cols - m : self.cols + m + 1] = self.visible[:, k - m : k + m + 1]
        self._band = band.ravel()
        far = 4 * (self.rows + k + 2) * W
        kind = np.int32 if 3 * far < 2**31 else np.int64  # int32 halves the work if it can
        cells = np.arange(self.n_cells, dtype=np.int64)
        key = cells // self.cols * W + cells % self.cols
        self._ckey: npt.NDArray[np.signedinteger[Any]] = np.concatenate(([3 * far], key)).astype(
            kind
        )
        self._vkey: npt.NDArray[np.signedinteger[Any]] = np.concatenate(
            ([far], key - (k + 1) * W - self.cols)
        ).astype(kind)
        self._change: dict[tuple[int, int], tuple[list[tuple[int, int]], ...]] = {}

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
        self, viewer_cells: npt.NDArray[np.integer[Any]], cells: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        """(viewers x cells) visibility matrix; negative cells (spawned/despawned) see nothing."""
        ck = self._ckey.take(cells + 1, mode="clip")
        vk = self._vkey.take(viewer_cells + 1, mode="clip")
        out: npt.NDArray[np.bool_] = self._band.take(ck[None, :] - vk[:, None], mode="clip")
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
        """(cells that came into view, cells that went out of view) when a viewer moves,
        each in ascending order."""
        if old_cell < 0 or new_cell < 0:
            return (
                self.view_cells(new_cell) if new_cell >= 0 else [],
                self.view_cells(old_cell) if old_cell >= 0 else [],
            )
        cols = self.cols
        oc, orow = old_cell % cols, old_cell // cols
        nc, nrow = new_cell % cols, new_cell // cols
        ddx, ddy = nc - oc, nrow - orow
        if max(abs(ddx), abs(ddy)) > 2 * self.reach:  # the two views do not overlap
            return self.view_cells(new_cell), self.view_cells(old_cell)
        came, went = self._change_offsets(ddx, ddy)
        return self._cells_at(nc, nrow, came), self._cells_at(oc, orow, went)

    def _change_offsets(
        self, ddx: int, ddy: int
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """For a move by (ddx, ddy) cells: the stencil offsets (from the new cell) that were
        not in view before, and those (from the old cell) that are not in view after.

        Whether a cell exists does not depend on where the viewer is, so the set difference
        of two views is that of their stencils, clipped to the grid afterwards. The offsets
        are in (dy, dx) order, which is cell order once clipped."""
        key = (ddx, ddy)
        found = self._change.get(key)
        if found is None:
            k = self.reach
            vis = self.visible

            def inside(dx: int, dy: int) -> bool:
                return -k <= dx <= k and -k <= dy <= k and bool(vis[dy + k, dx + k])

            came = [(dx, dy) for dx, dy in self.offsets if not inside(dx + ddx, dy + ddy)]
            went = [(dx, dy) for dx, dy in self.offsets if not inside(dx - ddx, dy - ddy)]
            found = self._change[key] = (came, went)
        return found[0], found[1]

    def _cells_at(self, col: int, row: int, offsets: list[tuple[int, int]]) -> list[int]:
        cols, rows = self.cols, self.rows
        return [
            (row + dy) * cols + col + dx
            for dx, dy in offsets
            if 0 <= col + dx < cols and 0 <= row + dy < rows
        ]

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

    @cached_property
    def _span_columns(self) -> dict[int, tuple[I64, I64, I64]]:
        """`row_spans` as (1, spans) arrays of dy, dx0 and dx1, per tier set."""
        out: dict[int, tuple[I64, I64, I64]] = {}
        for due, spans in self.row_spans.items():
            a = np.asarray(spans, dtype=np.int64).reshape(-1, 3)
            out[due] = (a[None, :, 0], a[None, :, 1], a[None, :, 2])
        return out

    @cached_property
    def _span_offsets(self) -> dict[int, tuple[I64, I64]]:
        """Per tier set, (1, spans) arrays of each run's first and last cell less the
        viewer's: what `span_keys` adds for a viewer whose runs all lie inside the grid."""
        out: dict[int, tuple[I64, I64]] = {}
        for due, (dy, dx0, dx1) in self._span_columns.items():
            out[due] = (dy * self.cols + dx0, dy * self.cols + dx1)
        return out

    def span_keys(
        self, viewer_cells: npt.NDArray[np.integer[Any]], due: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(lo, hi) cell keys, shape (viewers, spans), of each viewer's row runs for `due`.

        Runs falling outside the world get lo = 1, hi = 0 so they select nothing."""
        lo_off, hi_off = self._span_offsets[due]
        cells = viewer_cells.astype(np.int64)[:, None]
        lo = cells + lo_off
        hi = cells + hi_off
        # Only a viewer within `reach` of the world's edge has runs to clip (or none at all).
        k, cols, rows = self.reach, self.cols, self.rows
        col = viewer_cells % cols
        row = viewer_cells // cols
        edge = col < k
        edge |= col >= cols - k
        edge |= row < k
        edge |= row >= rows - k
        if edge.any():
            near = edge.nonzero()[0]
            lo[near], hi[near] = self._clipped_span_keys(viewer_cells.take(near), due)
        return lo, hi

    def _clipped_span_keys(
        self, viewer_cells: npt.NDArray[np.integer[Any]], due: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        dy, dx0, dx1 = self._span_columns[due]
        cols = self.cols
        col = (viewer_cells % cols).astype(np.int64)[:, None]
        row = (viewer_cells // cols).astype(np.int64)[:, None] + dy
        lo = col + dx0
        np.maximum(lo, 0, out=lo)
        hi = col + dx1
        np.minimum(hi, cols - 1, out=hi)
        bad = row.view(np.uint64) >= self.rows  # a negative row wraps around to a huge one
        bad |= lo > hi
        row *= cols
        lo += row
        hi += row
        np.copyto(lo, 1, where=bad)
        np.copyto(hi, 0, where=bad)
        return lo, hi
