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
        self.x[nid] = x
        self.y[nid] = y
        self.z[nid] = z
        self.heading[nid] = heading

    def _quantise(self, ids: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], ...]:
        # ufuncs and in-place steps rather than np.clip & co: on ~1,000 players a tick, the
        # numpy function wrappers cost more than the arithmetic.
        b = self.bounds
        scale = self._scale
        out: list[npt.NDArray[Any]] = []
        for pos, origin, k, q in (
            (self.x, b.min_x, 0, self.qx),
            (self.y, b.min_y, 1, self.qy),
            (self.z, b.min_z, 2, self.qz),
        ):
            v = pos.take(ids)
            v -= origin
            v *= scale[k]
            np.rint(v, out=v)
            np.maximum(v, 0, out=v)
            np.minimum(v, QMAX, out=v)
            qv = v.astype(np.uint16)
            q[ids] = qv
            out.append(qv)
        h = self.heading.take(ids)
        np.mod(h, 360.0, out=h)
        h *= 256.0 / 360.0
        np.rint(h, out=h)
        qh = (h.astype(np.int64) % 256).astype(np.uint8)
        self.qh[ids] = qh
        out.append(qh)
        return tuple(out)

    def quantise(self, tick: int) -> None:
        """Quantise every active player; stamp `last_change` where the wire state moved."""
        ids = self.ids
        if ids.size == 0:
            return
        ox, oy, oz, oh = self.qx.take(ids), self.qy.take(ids), self.qz.take(ids), self.qh.take(ids)
        qx, qy, qz, qh = self._quantise(ids)
        changed = qx != ox
        changed |= qy != oy
        changed |= qz != oz
        changed |= qh != oh
        self.last_change[ids[changed]] = tick
