"""The NPCs a load-test talker can see, kept from STATE frames at a few struct reads a frame.

A talker only needs to know which NPCs are in view and where they are, to pick the nearest
one to talk to. A full `protocol.mirror.Mirror` decodes every MOVE record of every frame
into objects (most of a frame's bytes, and most of a 1,000-bot load tool's CPU), so a
talker keeps this instead: it reads the header, the LEAVE ids, the ENTER records (an NPC's
id and path; any other kind's id only, to forget an NPC whose id it now names), and the
PATH section, and never looks at the MOVE records, which are the tail of the frame. Most
frames have all three counted sections empty and cost three reads of a u16.

It follows SPEC.md §5.3 as the mirror does, for NPCs: FULL replaces the whole set (its
LEAVE section is not applied); LEAVE of any id removes it; an ENTER of an NPC adds or
replaces it, an ENTER of a player under an NPC's id replaces (so removes) it, an ENTER of an
unknown kind changes nothing; a PATH for an id that is not a known NPC is ignored. A frame
the reference decoder would reject (a section past the end, a short body, a MOVE tail that
is not a multiple of 9 bytes) changes nothing either. The one difference: a MOVE record for
an NPC (which v1 servers never send, §5.3) is not applied, since MOVE records are not read.
Positions come from the paths (`NpcPath.position_at`) at the server tick estimated from the
last frame's tick and the local time it arrived, as `Mirror.estimate_tick` does.
"""

from __future__ import annotations

import struct
from typing import Any

from protocol.catalogue import EntityKind, StateFlag
from protocol.quant import WorldBounds
from protocol.state import (
    ENTER_HEAD,
    HEADER,
    MOVE,
    NPC_BODY,
    PATH_RECORD,
    PLAYER_BODY_HEAD,
    U16,
    NpcPath,
)

Buffer = bytes | bytearray | memoryview

_U16 = U16.unpack_from
_U32 = struct.Struct("<I").unpack_from
_TICK_AT = 6  # offset of the header's tick
_HDR_SIZE = HEADER.size
_ENTER = ENTER_HEAD.unpack_from
_ENTER_SIZE = ENTER_HEAD.size
_NPC = NPC_BODY.unpack_from
_NPC_SIZE = NPC_BODY.size
_PLAYER_HEAD = PLAYER_BODY_HEAD.size
_PATH = PATH_RECORD.unpack_from
_PATH_SIZE = PATH_RECORD.size
_MOVE_SIZE = MOVE.size
_KIND_NPC = int(EntityKind.NPC)
_KIND_PLAYER = int(EntityKind.PLAYER)
_FULL = int(StateFlag.FULL)


class NpcTracker:
    """NPC ids and paths in view, from the welcome and the STATE frames that follow it."""

    __slots__ = ("bounds", "invalid", "last_tick", "paths", "received_at", "tick_rate")

    def __init__(self) -> None:
        self.paths: dict[int, NpcPath] = {}
        self.bounds: WorldBounds | None = None
        self.tick_rate = 0
        self.last_tick = 0
        self.received_at: float | None = None
        self.invalid = 0  # frames refused (before the welcome, or malformed)

    def welcome(self, w: dict[str, Any], now: float) -> bool:
        """Take the world bounds, tick rate and tick from a `welcome` message; False (and no
        change) when they are missing or malformed, as the mirror refuses such a welcome."""
        try:
            bounds = WorldBounds.from_dict(w["world"])
            rate = int(w["tick_rate"])
            tick = int(w["tick"])
        except (KeyError, TypeError, ValueError):
            self.invalid += 1
            return False
        self.bounds, self.tick_rate, self.last_tick, self.received_at = bounds, rate, tick, now
        return True

    def feed(self, data: Buffer, start: int, end: int, now: float) -> bool:
        """Apply the STATE frame `data[start:end]` (bytes past `end` are another frame's and
        are never read). Returns False, changing nothing, for a frame the mirror would
        refuse."""
        if self.bounds is None or end - start < _HDR_SIZE + 6:
            self.invalid += 1
            return False
        off = start + _HDR_SIZE
        (nl,) = _U16(data, off)
        leaves = off + 2
        off = leaves + 2 * nl
        if off + 2 > end:
            self.invalid += 1
            return False
        (ne,) = _U16(data, off)
        off += 2
        enters: list[tuple[int, NpcPath | None]] | None = None
        if ne:
            enters = []
            for _ in range(ne):
                if off + _ENTER_SIZE > end:
                    self.invalid += 1
                    return False
                eid, kind, blen = _ENTER(data, off)
                off += _ENTER_SIZE
                if off + blen > end:
                    self.invalid += 1
                    return False
                if kind == _KIND_NPC:
                    if blen < _NPC_SIZE:
                        self.invalid += 1
                        return False
                    enters.append((eid, NpcPath(*_NPC(data, off)[1:])))
                elif kind == _KIND_PLAYER:
                    # Checked as the decoder checks it: a bad player body refuses the frame.
                    if blen < _PLAYER_HEAD or _PLAYER_HEAD + data[off + _PLAYER_HEAD - 1] > blen:
                        self.invalid += 1
                        return False
                    enters.append((eid, None))
                off += blen
        if off + 2 > end:
            self.invalid += 1
            return False
        (np_,) = _U16(data, off)
        off += 2
        paths_at = off
        off += _PATH_SIZE * np_
        if off > end or (end - off) % _MOVE_SIZE:
            self.invalid += 1
            return False
        paths = self.paths
        if data[start + 1] & _FULL:
            paths = self.paths = {}
        elif nl:
            for i in range(leaves, leaves + 2 * nl, 2):
                paths.pop(_U16(data, i)[0], None)
        if enters:
            for eid, path in enters:
                if path is None:
                    paths.pop(eid, None)
                else:
                    paths[eid] = path
        for i in range(paths_at, paths_at + _PATH_SIZE * np_, _PATH_SIZE):
            eid, *rec = _PATH(data, i)
            if eid in paths:
                paths[eid] = NpcPath(*rec)
        self.last_tick = _U32(data, start + _TICK_AT)[0]
        self.received_at = now
        return True

    def estimate_tick(self, now: float) -> float:
        """Server tick at local time `now`: the last frame's tick plus the time since it came."""
        if self.received_at is None:
            return float(self.last_tick)
        return self.last_tick + max(0.0, now - self.received_at) * self.tick_rate

    def position(self, nid: int, tick: float) -> tuple[float, float, float]:
        """Where NPC `nid` is at server tick `tick`, in metres (KeyError if not in view)."""
        assert self.bounds is not None
        return self.paths[nid].position_at(tick, self.tick_rate, self.bounds)

    def nearest(self, x: float, y: float, now: float) -> int | None:
        """Net id of the NPC nearest (x, y) at local time `now`, or None when none is known."""
        bounds = self.bounds
        if bounds is None:
            return None
        tick = self.estimate_tick(now)
        rate = self.tick_rate
        best: tuple[float, int] | None = None
        for nid, path in self.paths.items():
            nx, ny, _ = path.position_at(tick, rate, bounds)
            d = (nx - x) ** 2 + (ny - y) ** 2
            if best is None or d < best[0]:
                best = (d, nid)
        return None if best is None else best[1]
