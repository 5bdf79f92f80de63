"""Step 2 of replication — deltas, computed once per tick and shared by every client.

Two shared pieces:
- `MoveBuffer`: MOVE records of every player whose wire state changed within a window, sorted
  by grid cell, as one bytes object. A client's MOVE section is a handful of slices of it (one
  per row of its view), so no record is encoded more than once per tick.
- `Crossings`: the per-tick crossing logs of a window collapsed to one (from, to) per entity,
  plus the NPCs whose path changed, as arrays the view step tests against many clients at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocol.state import MOVE_DTYPE
from server.world.world import World

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


# One MOVE record as an opaque 9-byte item: copying items of a structured dtype goes field by
# field (~10x slower than one memcpy each); the bytes are the same.
MOVE_ITEM = np.dtype(f"V{MOVE_DTYPE.itemsize}")


@dataclass(slots=True)
class MoveBuffer:
    keys: I64  # sorted grid cell of each record
    records: npt.NDArray[np.void]  # MOVE records (as MOVE_ITEM), in the same order
    # below[j]: how many records lie in cells before `first + j`, for the cells from the first
    # record's to one past the last's, so cells lo..hi are records below[lo - first] :
    # below[hi + 1 - first] (indices clipped into the table). Two lookups per run instead
    # of two binary searches, ~25x cheaper at a thousand records; None where the records
    # spread over too many cells for the table to pay (then the binary searches).
    first: int
    below: I64 | None

    @classmethod
    def build(cls, world: World, window: int) -> MoveBuffer:
        p = world.players
        ids = p.ids
        if ids.size:
            ids = ids[p.last_change[ids] > world.tick - window]
        cells = world.cell[ids].astype(np.int64)
        order = cells.argsort(kind="stable")
        ids = ids[order]
        keys = cells.take(order)
        rec = np.empty(ids.size, dtype=MOVE_DTYPE)
        rec["id"] = ids
        rec["x"] = p.qx[ids]
        rec["y"] = p.qy[ids]
        rec["z"] = p.qz[ids]
        rec["h"] = p.qh[ids]
        first, below = 0, None
        if keys.size == 0:
            below = np.zeros(1, dtype=np.int64)
        elif keys[-1] - keys[0] <= 32 * keys.size + 4096:
            # Record i is counted below each cell after its own: i repeats over the cells from
            # the previous record's cell + 1 to its own (none where cells repeat).
            first = int(keys[0])
            edges = np.empty(keys.size + 2, dtype=np.int64)
            edges[0] = first - 1
            edges[1:-1] = keys
            edges[-1] = keys[-1] + 1
            below = np.arange(keys.size + 1, dtype=np.int64).repeat(edges[1:] - edges[:-1])
        return cls(keys, rec.view(MOVE_ITEM), first, below)

    def gather(self, lo_keys: I64, hi_keys: I64) -> tuple[U8, I64]:
        """Each viewer's MOVE section, laid end to end: (bytes, byte offsets per viewer + end).
        The bytes are an array, sliced through a memoryview: a bytes copy would be one more.

        `lo_keys`/`hi_keys` are (viewers, runs) cell ranges, lo > hi for an empty run. One
        vectorised gather for the whole group replaces a slice-and-join per run per viewer;
        each viewer then takes a single slice. (ndarray methods and ufuncs throughout: the
        `np.` function wrappers cost more than the work on arrays this small.)"""
        below = self.below
        if below is not None:
            start = below.take(lo_keys - self.first, mode="clip")
            lens = below.take(hi_keys + (1 - self.first), mode="clip")
        else:
            start = self.keys.searchsorted(lo_keys, side="left")
            lens = self.keys.searchsorted(hi_keys, side="right")
        lens -= start
        np.maximum(lens, 0, out=lens)
        offsets = np.zeros(lens.shape[0] + 1, dtype=np.int64)
        np.add.accumulate(np.add.reduce(lens, axis=1), out=offsets[1:])
        total = int(offsets[-1])
        if total == 0:
            return np.zeros(0, dtype=np.uint8), offsets
        # Index of every record to copy: each run's start, counted up within the run.
        lens = lens.ravel()
        run_out = np.zeros(lens.size, dtype=np.int64)
        np.add.accumulate(lens[:-1], out=run_out[1:])
        run_out -= start.ravel()
        idx = np.arange(total, dtype=np.int64)
        idx -= run_out.repeat(lens)
        offsets *= MOVE_DTYPE.itemsize
        return self.records.take(idx).view(np.uint8), offsets


@dataclass(slots=True)
class Crossings:
    ids: I64
    from_cell: I32  # cell at the start of the window (-1: did not exist)
    to_cell: I32  # cell now (-1: gone)
    path_ids: I64  # NPCs whose path changed within the window
    path_cells: I32

    @classmethod
    def collapse(cls, world: World, since: int) -> Crossings:
        """Everything that crossed cells in ticks (since, now]."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        paths: list[I64] = []
        for log in world.logs:
            if log.tick <= since:
                continue
            for e, f, t in zip(
                log.cross_ids.tolist(), log.cross_from.tolist(), log.cross_to.tolist(), strict=True
            ):
                if e not in first:
                    first[e] = f
                last[e] = t
            if log.path_ids.size:
                paths.append(log.path_ids)
        ids = np.fromiter(first.keys(), dtype=np.int64, count=len(first))
        fr = np.fromiter(first.values(), dtype=np.int32, count=len(first))
        to = np.fromiter((last[e] for e in first), dtype=np.int32, count=len(first))
        pids = np.unique(np.concatenate(paths)) if paths else np.zeros(0, dtype=np.int64)
        return cls(ids, fr, to, pids, world.cell[pids])
