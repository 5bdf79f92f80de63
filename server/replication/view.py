"""Step 3 of replication — the per-client view: assemble each due client's STATE frame.

Everything that can be shared is computed once per group of clients (same window, same tiers)
with numpy: who entered or left whose view, and which slices of the shared MOVE buffer each
client needs. What remains per client is joining a few byte strings and one transport write.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from protocol.catalogue import FrameType, StateFlag
from protocol.state import EMPTY_SECTION, HEADER, encode_header, encode_leaves, encode_section
from server.replication.delta import Crossings, MoveBuffer
from server.replication.snapshot import full_snapshot
from server.world.world import World

ALL_TIERS = 3
STATE = int(FrameType.STATE)
EMPTY_SECTIONS = EMPTY_SECTION * 3  # LEAVE, ENTER and PATH, all empty: most frames


@dataclass(slots=True, eq=False)
class Viewer:
    """Replication state of one client.

    `send` writes a finished STATE payload (the flush step calls it, never the tick), and
    `writable` says whether the client is keeping up; a client that is not gets no frame
    this patch (coalesced) and a catch-up frame when it drains."""

    nid: int
    send: Callable[[bytes], object]
    tier_offset: int = 0
    seq: int = 0
    last_emit: int = -1  # tick of the last frame sent
    last_all: int = -1  # tick of the last frame with every tier (or FULL)
    last_sent: int = -1  # tick of the last frame actually sent (empty patches are skipped)
    view_cell: int = -1
    needs_full: bool = True
    missed: int = 0  # patches skipped since the last frame (coalesced)
    writable: Callable[[], bool] = field(default=lambda: True)


@dataclass(slots=True)
class PatchStats:
    frames: int = 0
    bytes: int = 0
    full: int = 0
    skipped: int = 0
    empty: int = 0  # patches with nothing in them, not sent


class ViewAssembler:
    """Builds the frames of the clients due on one tick into `outbox`.

    Writing them is a separate step (`flush`), run after the tick in small batches: a
    loopback send() alone costs ~11 us of kernel time, and hundreds of them inside the tick
    would hold up both the simulation and the reading of inputs."""

    def __init__(
        self,
        world: World,
        ticks_per_patch: int,
        mid_every: int,
        far_every: int,
        heartbeat_ticks: int = 0,
    ) -> None:
        self.outbox: list[tuple[Viewer, bytes]] = []
        self.heartbeat = heartbeat_ticks  # 0: send every patch, even an empty one
        self.world = world
        self.tpp = ticks_per_patch
        self.mid_every = mid_every
        self.far_every = far_every
        self.window = far_every * ticks_per_patch  # MOVE window of a regular client

    def due_tiers(self, v: Viewer, tick: int) -> int:
        k = tick // self.tpp + v.tier_offset
        if k % self.far_every == 0:
            return 3
        if k % self.mid_every == 0:
            return 2
        return 1

    def run(self, viewers: Sequence[Viewer], server_time: float) -> PatchStats:
        world = self.world
        t = world.tick
        stats = PatchStats()
        groups: dict[tuple[int, int, int], list[Viewer]] = collections.defaultdict(list)
        fulls: list[Viewer] = []
        for v in viewers:
            if not v.writable():
                v.missed += 1
                stats.skipped += 1
                continue
            if v.needs_full or t - v.last_emit > world.history - 1:
                fulls.append(v)
                continue
            if v.missed:
                due = ALL_TIERS
                window = t - v.last_all
            else:
                due = self.due_tiers(v, t)
                window = self.window
            groups[(v.last_emit, due, window)].append(v)

        buffers: dict[int, MoveBuffer] = {}
        crossings: dict[int, Crossings] = {}
        for (since, due, window), group in groups.items():
            buf = buffers.get(window)
            if buf is None:
                buf = buffers[window] = MoveBuffer.build(world, window)
            cr = crossings.get(since)
            if cr is None:
                cr = crossings[since] = Crossings.collapse(world, since)
            self._assemble_group(group, due, buf, cr, t, server_time, stats)
        for v in fulls:
            self._assemble_full(v, t, server_time, stats)
        return stats

    def _assemble_full(self, v: Viewer, t: int, server_time: float, stats: PatchStats) -> None:
        world = self.world
        cell = int(world.cell[v.nid])
        enters, _ = full_snapshot(world, cell)
        frame = b"".join(
            (
                encode_header(StateFlag.FULL, v.seq + 1, t, server_time),
                EMPTY_SECTION,
                enters,
                EMPTY_SECTION,
            )
        )
        self.outbox.append((v, frame))
        v.seq += 1
        v.last_sent = t
        v.needs_full = False
        v.missed = 0
        v.last_emit = v.last_all = t
        v.view_cell = cell
        stats.frames += 1
        stats.full += 1
        stats.bytes += len(frame)

    def _assemble_group(
        self,
        group: list[Viewer],
        due: int,
        buf: MoveBuffer,
        cr: Crossings,
        t: int,
        server_time: float,
        stats: PatchStats,
    ) -> None:
        world = self.world
        grid = world.grid
        n = len(group)
        nids = np.fromiter((v.nid for v in group), dtype=np.int64, count=n)
        prev = np.fromiter((v.view_cell for v in group), dtype=np.int32, count=n)
        now = world.cell[nids]

        enters: dict[int, list[int]] = collections.defaultdict(list)
        leaves: dict[int, list[int]] = collections.defaultdict(list)
        paths: dict[int, list[int]] = collections.defaultdict(list)
        if cr.ids.size:
            was = grid.sees_many(prev, cr.from_cell)
            is_ = grid.sees_many(now, cr.to_cell)
            for ci, ei in zip(*np.nonzero(is_ & ~was), strict=True):
                enters[int(ci)].append(int(cr.ids[ei]))
            for ci, ei in zip(*np.nonzero(was & ~is_), strict=True):
                leaves[int(ci)].append(int(cr.ids[ei]))
        if cr.path_ids.size:
            vis = grid.sees_many(now, cr.path_cells)
            for ci, ei in zip(*np.nonzero(vis), strict=True):
                paths[int(ci)].append(int(cr.path_ids[ei]))
        # Viewers whose own cell changed: whole cells came into or went out of view.
        moved = np.flatnonzero(prev != now).tolist()
        if moved:
            crossed = set(cr.ids.tolist())
            for ci in moved:
                added, removed = grid.view_change(int(prev[ci]), int(now[ci]))
                enters[ci].extend(e for e in world.entities_in(added) if e not in crossed)
                leaves[ci].extend(e for e in world.entities_in(removed) if e not in crossed)

        special = set(enters) | set(leaves) | set(paths)
        now_list = now.tolist()
        lo, hi = grid.span_keys(now, due)
        moves, offs = buf.gather(lo, hi)
        mv = memoryview(moves)
        outbox = self.outbox
        pack = HEADER.pack
        all_tiers = due == ALL_TIERS
        heartbeat = self.heartbeat
        nbytes = 0
        sent = 0
        for ci, v in enumerate(group):
            seq = v.seq + 1
            head = pack(STATE, 0, seq, t, server_time)
            if ci in special:
                lv = leaves.get(ci)
                ev = enters.get(ci)
                pv = paths.get(ci)
                frame = b"".join(
                    (
                        head,
                        encode_leaves(lv) if lv else EMPTY_SECTION,
                        encode_section([world.enter_record(e) for e in ev])
                        if ev
                        else EMPTY_SECTION,
                        encode_section([world.path_record(e) for e in pv]) if pv else EMPTY_SECTION,
                        mv[offs[ci] : offs[ci + 1]],
                    )
                )
            elif offs[ci] == offs[ci + 1] and t - v.last_sent < heartbeat:
                # Nothing for this client: skip the patch. Its view is as up to date as if
                # the empty frame had gone out, so the bookkeeping moves on all the same.
                v.last_emit = t
                if all_tiers:
                    v.last_all = t
                v.missed = 0
                stats.empty += 1
                continue
            else:
                frame = b"".join((head, EMPTY_SECTIONS, mv[offs[ci] : offs[ci + 1]]))
            outbox.append((v, frame))
            nbytes += len(frame)
            sent += 1
            v.seq = seq
            v.last_sent = t
            v.last_emit = t
            if all_tiers:
                v.last_all = t
            v.missed = 0
        # Each viewer's view now centres on its current cell.
        for ci, v in enumerate(group):
            v.view_cell = now_list[ci]
        stats.frames += sent
        stats.bytes += nbytes
