"""Players' live state as arrays indexed by net id.

Inputs arrive between ticks and write straight into these arrays (validated by the
connection); the tick quantises every active player in one vectorised pass and stamps the
ones whose wire state changed, which is all the delta step needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from protocol.quant import QMAX, WorldBounds

CAPACITY = 65536


class Players:
    def __init__(self, bounds: WorldBounds) -> None:
        self.bounds = bounds
        self.x = np.zeros(CAPACITY)
        self.y = np.zeros(CAPACITY)
        self.z = np.zeros(CAPACITY)
        self.heading = np.zeros(CAPACITY)
        # The same four arrays seen as memoryviews: one element read or written through them
        # costs half of numpy's scalar indexing, and every INPUT reads three and writes four.
        # Reads give Python floats, as `.item` does. The arrays are never replaced or resized.
        # (A memoryview casts only from bytes, hence "B" first; typed as floats for mypy.)
        self.x_at = self.x.data.cast("B").cast("d")
        self.y_at = self.y.data.cast("B").cast("d")
        self.z_at = self.z.data.cast("B").cast("d")
        self.heading_at = self.heading.data.cast("B").cast("d")
        self.qx = np.zeros(CAPACITY, dtype=np.uint16)
        self.qy = np.zeros(CAPACITY, dtype=np.uint16)
        self.qz = np.zeros(CAPACITY, dtype=np.uint16)
        self.qh = np.zeros(CAPACITY, dtype=np.uint8)
        self.last_change = np.full(CAPACITY, -(1 << 40), dtype=np.int64)
        self.health = np.full(CAPACITY, 100, dtype=np.uint8)
        self.names: dict[int, str] = {}
        self._active: set[int] = set()
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._dirty = False
        self._scale = np.array(
            [
                QMAX / (bounds.max_x - bounds.min_x),
                QMAX / (bounds.max_y - bounds.min_y),
                QMAX / (bounds.max_z - bounds.min_z),
            ]
        )

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        """Active player net ids, sorted; rebuilt only when someone joined or left."""
        if self._dirty:
            self._ids = np.fromiter(sorted(self._active), dtype=np.int64, count=len(self._active))
            self._dirty = False
        return self._ids

    def __len__(self) -> int:
        return len(self._active)

    def add(
        self, nid: int, name: str, x: float, y: float, z: float, heading: float, tick: int
    ) -> None:
        self.names[nid] = name
        self.place(nid, x, y, z, heading)
        self.last_change[nid] = tick
        self._quantise(np.array([nid], dtype=np.int64))
        self._active.add(nid)
        self._dirty = True

    def remove(self, nid: int) -> None:
        self._active.discard(nid)
        self.names.pop(nid, None)
        self._dirty = True

    def place(self, nid: int, x: float, y: float, z: float, heading: float) -> None:
        try:
            self.x_at[nid] = x
            self.y_at[nid] = y
            self.z_at[nid] = z
            self.heading_at[nid] = heading
        except TypeError:  # not a Python float (an int, a numpy float32): numpy converts it
            self.x[nid] = x
            self.y[nid] = y
            self.z[nid] = z
            self.heading[nid] = heading

    def _quantise(self, ids: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], ...]:
        b = self.bounds
        qx = np.clip(np.rint((self.x[ids] - b.min_x) * self._scale[0]), 0, QMAX).astype(np.uint16)
        qy = np.clip(np.rint((self.y[ids] - b.min_y) * self._scale[1]), 0, QMAX).astype(np.uint16)
        qz = np.clip(np.rint((self.z[ids] - b.min_z) * self._scale[2]), 0, QMAX).astype(np.uint16)
        qh = (
            np.rint(np.mod(self.heading[ids], 360.0) * (256.0 / 360.0)).astype(np.int64) % 256
        ).astype(np.uint8)
        self.qx[ids], self.qy[ids], self.qz[ids], self.qh[ids] = qx, qy, qz, qh
        return qx, qy, qz, qh

    def quantise(self, tick: int) -> None:
        """Quantise every active player; stamp `last_change` where the wire state moved."""
        ids = self.ids
        if ids.size == 0:
            return
        ox, oy, oz, oh = self.qx[ids], self.qy[ids], self.qz[ids], self.qh[ids]
        qx, qy, qz, qh = self._quantise(ids)
        changed = (qx != ox) | (qy != oy) | (qz != oz) | (qh != oh)
        self.last_change[ids[changed]] = tick
