"""Step 3 of replication — the per-client view: assemble each due client's STATE frame.

Every client's replication state lives in `Viewers`, a table of numpy arrays, so that what is
the same for many clients is decided for all of them at once: which are due, which tiers,
who entered or left whose view, which slices of the shared MOVE buffer each needs, and which
have nothing to be told. Python runs per client only for a frame that is actually sent.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocol.catalogue import FrameType, StateFlag
from protocol.state import EMPTY_SECTION, HEADER, encode_header, encode_leaves, encode_section
from server.replication.delta import Crossings, MoveBuffer
from server.replication.snapshot import full_snapshot
from server.world.world import World

ALL_TIERS = 3
STATE = int(FrameType.STATE)
EMPTY_SECTIONS = EMPTY_SECTION * 3  # LEAVE, ENTER and PATH, all empty: most frames
# The header of such a frame with its empty sections, in one pack: the sections are zero
# counts, i.e. pad bytes.
HEAD_EMPTY = struct.Struct(HEADER.format + f"{len(EMPTY_SECTIONS)}x")
assert HEAD_EMPTY.pack(STATE, 0, 1, 2, 3.0) == HEADER.pack(STATE, 0, 1, 2, 3.0) + EMPTY_SECTIONS

Send = Callable[[bytes], object]
I64 = npt.NDArray[np.int64]


class Viewers:
    """Replication state of every connected client, one slot each.

    `send[slot]` writes a finished STATE payload (the flush step calls it, never the tick);
    `paused[slot]` is set while the client's socket buffer is full: it then gets no frame
    (coalesced) and a catch-up frame once it drains."""

    FIELDS = (
        "nid",
        "seq",
        "last_emit",
        "last_all",
        "last_sent",
        "view_cell",
        "missed",
        "tier_offset",
        "phase",
    )

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = 0
        self.nid = self.seq = self.last_emit = self.last_all = self.last_sent = np.zeros(
            0, dtype=np.int64
        )
        self.view_cell = self.missed = self.tier_offset = self.phase = np.zeros(0, dtype=np.int64)
        self.needs_full = self.active = self.paused = np.zeros(0, dtype=np.bool_)
        self.send: list[Send | None] = []
        self.free: list[int] = []
        self._due: dict[int, I64] = {}
        self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        for name in self.FIELDS:
            arr = np.zeros(capacity, dtype=np.int64)
            arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        for name in ("needs_full", "active", "paused"):
            arr_b = np.zeros(capacity, dtype=np.bool_)
            arr_b[:old] = getattr(self, name)
            setattr(self, name, arr_b)
        self.send.extend([None] * (capacity - old))
        self.free.extend(range(capacity - 1, old - 1, -1))
        self.capacity = capacity

    def add(self, nid: int, send: Send, tier_offset: int, phase: int) -> int:
        if not self.free:
            self._grow(self.capacity * 2)
        slot = self.free.pop()
        self.nid[slot] = nid
        self.seq[slot] = 0
        self.last_emit[slot] = self.last_all[slot] = self.last_sent[slot] = -1
        self.view_cell[slot] = -1
        self.missed[slot] = 0
        self.tier_offset[slot] = tier_offset
        self.phase[slot] = phase
        self.needs_full[slot] = True
        self.paused[slot] = False
        self.active[slot] = True
        self.send[slot] = send
        self._due.clear()
        return slot

    def remove(self, slot: int) -> None:
        if not self.active[slot]:
            return
        self.active[slot] = False
        self.send[slot] = None
        self.free.append(slot)
        self._due.clear()

    def due(self, phase: int) -> I64:
        """Slots of the clients whose patch falls on ticks of this phase."""
        slots = self._due.get(phase)
        if slots is None:
            slots = self._due[phase] = np.flatnonzero(self.active & (self.phase == phase)).astype(
                np.int64
            )
        return slots

    def __len__(self) -> int:
        return int(self.active.sum())


@dataclass(slots=True)
class PatchStats:
    frames: int = 0
    bytes: int = 0
    full: int = 0
    skipped: int = 0  # not writable: coalesced
    empty: int = 0  # nothing to say: not sent
    groups: int = 0  # (window, tiers) groups assembled


class ViewAssembler:
    """Builds the frames of the clients due on one tick into `outbox`.

    Writing them is a separate step (`flush`), run after the tick in small batches: a
    loopback send() alone costs ~11 us of kernel time, and hundreds of them inside the tick
    would hold up both the simulation and the reading of inputs."""

    def __init__(
        self,
        world: World,
        viewers: Viewers,
        ticks_per_patch: int,
        mid_every: int,
        far_every: int,
        heartbeat_ticks: int = 0,
    ) -> None:
        self.outbox: list[tuple[Send, bytes]] = []
        self.world = world
        self.viewers = viewers
        self.tpp = ticks_per_patch
        self.mid_every = mid_every
        self.far_every = far_every
        self.window = far_every * ticks_per_patch  # MOVE window of a regular client
        self.heartbeat = heartbeat_ticks  # 0: send every patch, even an empty one

    def run(self, slots: I64, server_time: float) -> PatchStats:
        world = self.world
        V = self.viewers
        t = world.tick
        stats = PatchStats()
        if slots.size == 0:
            return stats
        paused = V.paused[slots]
        if paused.any():
            ps = slots[paused]
            V.missed[ps] += 1
            stats.skipped += int(ps.size)
            slots = slots[~paused]
        horizon = world.history - 1  # older than this, the logs cannot bring a client up to date
        full = (
            V.needs_full[slots]
            | (t - V.last_emit[slots] > horizon)
            | ((V.missed[slots] > 0) & (t - V.last_all[slots] > horizon))
        )
        if full.any():
            for s in slots[full].tolist():
                self._assemble_full(s, t, server_time, stats)
            slots = slots[~full]
        if slots.size == 0:
            return stats
        missed = V.missed[slots] > 0
        k = t // self.tpp + V.tier_offset[slots]
        due = np.where(k % self.far_every == 0, 3, np.where(k % self.mid_every == 0, 2, 1))
        due[missed] = ALL_TIERS
        window = np.where(missed, t - V.last_all[slots], self.window)
        # One int64 key per client: (since, due, window) packed; window < 2**16 by `horizon`.
        keys = (V.last_emit[slots] * 4 + due) * 65536 + window
        if (keys == keys[0]).all():  # the usual case: everyone regular and in step
            uniq, inverse = keys[:1], np.zeros(keys.size, dtype=np.intp)
        else:
            uniq, inverse = np.unique(keys, return_inverse=True)
        buffers: dict[int, MoveBuffer] = {}
        crossings: dict[int, Crossings] = {}
        single = len(uniq) == 1
        stats.groups = len(uniq)
        for gi, key in enumerate(uniq.tolist()):
            since, d, w = key // 65536 // 4, key // 65536 % 4, key % 65536
            g = slots if single else slots[inverse == gi]
            buf = buffers.get(w)
            if buf is None:
                buf = buffers[w] = MoveBuffer.build(world, w)
            cr = crossings.get(since)
            if cr is None:
                cr = crossings[since] = Crossings.collapse(world, since)
            self._assemble_group(g, d, buf, cr, t, server_time, stats)
        return stats

    def _assemble_full(self, s: int, t: int, server_time: float, stats: PatchStats) -> None:
        world = self.world
        V = self.viewers
        cell = int(world.cell[V.nid[s]])
        enters = full_snapshot(world, cell)
        seq = int(V.seq[s]) + 1
        frame = b"".join(
            (
                encode_header(StateFlag.FULL, seq, t, server_time),
                EMPTY_SECTION,
                enters,
                EMPTY_SECTION,
            )
        )
        send = V.send[s]
        assert send is not None
        self.outbox.append((send, frame))
        V.seq[s] = seq
        V.last_sent[s] = V.last_emit[s] = V.last_all[s] = t
        V.needs_full[s] = False
        V.missed[s] = 0
        V.view_cell[s] = cell
        stats.frames += 1
        stats.full += 1
        stats.bytes += len(frame)

    def _assemble_group(
        self,
        g: I64,
        due: int,
        buf: MoveBuffer,
        cr: Crossings,
        t: int,
        server_time: float,
        stats: PatchStats,
    ) -> None:
        world = self.world
        V = self.viewers
        grid = world.grid
        prev = V.view_cell.take(g)
        now = world.cell.take(V.nid.take(g))

        enters: dict[int, list[int]] = collections.defaultdict(list)
        leaves: dict[int, list[int]] = collections.defaultdict(list)
        paths: dict[int, list[int]] = collections.defaultdict(list)
        if cr.ids.size:
            was = grid.sees_many(prev, cr.from_cell)
            is_ = grid.sees_many(now, cr.to_cell)
            _collect(enters, is_ > was, cr.ids)
            _collect(leaves, was > is_, cr.ids)
        if cr.path_ids.size:
            _collect(paths, grid.sees_many(now, cr.path_cells), cr.path_ids)
        # Viewers whose own cell changed: whole cells came into or went out of view.
        moved = (prev != now).nonzero()[0].tolist()
        if moved:
            crossed = set(cr.ids.tolist())
            members = world.entities_in
            prev_l, now_l = prev.tolist(), now.tolist()
            for ci in moved:
                added, removed = grid.view_change(prev_l[ci], now_l[ci])
                enters[ci].extend([e for e in members(added) if e not in crossed])
                leaves[ci].extend([e for e in members(removed) if e not in crossed])
        special = {ci for d in (enters, leaves, paths) for ci, v in d.items() if v}

        lo, hi = grid.span_keys(now, due)
        moves, offs_arr = buf.gather(lo, hi)
        send_mask = offs_arr[1:] > offs_arr[:-1]
        if self.heartbeat:
            send_mask |= t - V.last_sent.take(g) >= self.heartbeat
        else:
            send_mask[:] = True
        if special:
            send_mask[list(special)] = True
        sent = send_mask.nonzero()[0]
        gs = g.take(sent)
        # Each entity's ENTER and PATH record, looked up once for all the viewers told.
        enter_record, path_record = world.enter_record, world.path_record
        records = {e: enter_record(e) for e in set().union(*enters.values())}
        path_records = {e: path_record(e) for e in set().union(*paths.values())}
        offs = offs_arr.take(sent).tolist()
        ends = offs_arr.take(sent + 1).tolist()
        mv = moves.data
        pack = HEADER.pack
        pack_empty = HEAD_EMPTY.pack
        out = self.outbox.append
        sends = V.send
        # Every frame is its head and its MOVE slice, plus for special ones their sections.
        nbytes = HEAD_EMPTY.size * len(offs) + sum(ends) - sum(offs)
        for ci, s, seq, a, b in zip(
            sent.tolist(), gs.tolist(), (V.seq.take(gs) + 1).tolist(), offs, ends, strict=True
        ):
            if ci in special:
                lv = leaves.get(ci)
                ev = enters.get(ci)
                pv = paths.get(ci)
                frame = b"".join(
                    (
                        pack(STATE, 0, seq, t, server_time),
                        encode_leaves(lv) if lv else EMPTY_SECTION,
                        encode_section([records[e] for e in ev]) if ev else EMPTY_SECTION,
                        encode_section([path_records[e] for e in pv]) if pv else EMPTY_SECTION,
                        mv[a:b],
                    )
                )
                nbytes += len(frame) - HEAD_EMPTY.size - (b - a)
            else:
                frame = pack_empty(STATE, 0, seq, t, server_time) + mv[a:b]
            send = sends[s]
            assert send is not None
            out((send, frame))
        # Bookkeeping for the whole group at once. A client whose patch was empty is as up to
        # date as if the empty frame had gone out, so only seq and last_sent depend on sending.
        V.seq[gs] += 1
        V.last_sent[gs] = t
        V.last_emit[g] = t
        if due == ALL_TIERS:
            V.last_all[g] = t
        V.missed[g] = 0
        V.view_cell[g] = now
        stats.frames += int(sent.size)
        stats.empty += int(g.size - sent.size)
        stats.bytes += nbytes


def _collect(into: dict[int, list[int]], pairs: npt.NDArray[np.bool_], ids: I64) -> None:
    """Append ids[e] to into[viewer] for every (viewer, e) set in `pairs`, in row order."""
    rows, cols = pairs.nonzero()
    if rows.size:
        for ci, e in zip(rows.tolist(), ids.take(cols).tolist(), strict=True):
            into[ci].append(e)
