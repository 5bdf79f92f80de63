"""Binary frames: client INPUT and server STATE (snapshot or delta).

Layout (all little-endian), normative text in SPEC.md:

STATE  = header, LEAVE section, ENTER section, PATH section, MOVE records to the end
header = u8 type(0x01) u8 flags u32 seq u32 tick f64 server_time          (18 bytes)
LEAVE  = u16 n, n x u16 net_id
ENTER  = u16 n, n x (u16 net_id, u8 kind, u8 body_len, body)
PATH   = u16 n, n x (u16 net_id, path)                                    (17 bytes each)
MOVE   = (u16 net_id, u16 qx, u16 qy, u16 qz, u8 heading)                 (9 bytes each)
path   = u16 qx u16 qy u16 qz u16 wx u16 wy u8 speed_dm_s u32 start_tick   (15 bytes)

The sections are separate, named steps so the server can build them from shared pieces:
MOVE records for a grid cell are encoded once per tick and sliced into every client's frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from protocol.catalogue import EntityKind, ErrorCode, FrameType, ProtocolError, StateFlag
from protocol.quant import WorldBounds, dequantise_position

HEADER = struct.Struct("<BBIId")
INPUT = struct.Struct("<BIIffff")
U16 = struct.Struct("<H")
ENTER_HEAD = struct.Struct("<HBB")
PATH_BODY = struct.Struct("<HHHHHBI")
PATH_RECORD = struct.Struct("<HHHHHHBI")
PLAYER_BODY_HEAD = struct.Struct("<HHHBBB")
NPC_BODY = struct.Struct("<HHHHHHBI")
MOVE = struct.Struct("<HHHHB")

MOVE_DTYPE = np.dtype(
    [("id", "<u2"), ("x", "<u2"), ("y", "<u2"), ("z", "<u2"), ("h", "u1")], align=False
)
"""MOVE record as a numpy dtype: the server builds a whole cell's records with one `tobytes`."""

assert MOVE_DTYPE.itemsize == MOVE.size == 9
assert HEADER.size == 18 and INPUT.size == 25 and PATH_RECORD.size == 17


# --- decoded forms ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputFrame:
    """Client movement input: where the player says it is now."""

    seq: int
    ack: int  # seq of the last STATE frame the client received
    x: float
    y: float
    z: float
    heading: float


@dataclass(frozen=True, slots=True)
class NpcPath:
    """Straight walk from (qx,qy,qz) to (wx,wy) at `speed` tenths of m/s, from `start_tick`.

    Clients extrapolate with `position_at`; the server simulates with the same formula on
    the same quantised numbers, so the two never drift apart.
    """

    qx: int
    qy: int
    qz: int
    wx: int
    wy: int
    speed: int
    start_tick: int

    def position_at(
        self, tick: float, tick_rate: int, bounds: WorldBounds
    ) -> tuple[float, float, float]:
        """Position at server tick `tick` (fractional ticks interpolate), in metres.

        Every step is a single IEEE-754 double operation in a fixed order (`sqrt`, not
        `hypot`, whose last bit differs between runtimes), so a client in any language that
        follows SPEC.md gets the same bits. From the arrival tick on, the result is the
        dequantised waypoint exactly, not start + (wp - start) * 1.0, which can be an ulp off.
        """
        sx, sy, sz = dequantise_position(bounds, self.qx, self.qy, self.qz)
        ex, ey, _ = dequantise_position(bounds, self.wx, self.wy, 0)
        dx = ex - sx
        dy = ey - sy
        dist = math.sqrt(dx * dx + dy * dy)
        if dist == 0.0 or self.speed == 0:
            return (sx, sy, sz)
        travelled = (self.speed / 10.0) * max(0.0, tick - self.start_tick) / tick_rate
        if travelled >= dist:
            return (ex, ey, sz)
        f = travelled / dist
        return (sx + dx * f, sy + dy * f, sz)

    def heading(self, bounds: WorldBounds) -> float:
        """Direction of travel in degrees (0 = +y, counter-clockwise, as GTA headings)."""
        sx, sy, _ = dequantise_position(bounds, self.qx, self.qy, 0)
        ex, ey, _ = dequantise_position(bounds, self.wx, self.wy, 0)
        return math.degrees(math.atan2(-(ex - sx), ey - sy)) % 360.0


@dataclass(frozen=True, slots=True)
class PlayerEnter:
    id: int
    qx: int
    qy: int
    qz: int
    heading: int
    health: int
    name: str


@dataclass(frozen=True, slots=True)
class NpcEnter:
    id: int
    model: int
    path: NpcPath


@dataclass(frozen=True, slots=True)
class UnknownEnter:
    """An ENTER record of a kind this decoder does not know: skipped by length, kept raw."""

    id: int
    kind: int
    body: bytes


Enter = PlayerEnter | NpcEnter | UnknownEnter


@dataclass(frozen=True, slots=True)
class Move:
    id: int
    qx: int
    qy: int
    qz: int
    heading: int


@dataclass(slots=True)
class StateFrame:
    seq: int
    tick: int
    server_time: float
    flags: StateFlag = StateFlag.NONE
    leaves: list[int] = field(default_factory=list)
    enters: list[Enter] = field(default_factory=list)
    paths: list[tuple[int, NpcPath]] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return bool(self.flags & StateFlag.FULL)


# --- encoding pieces (the server assembles frames from these) ---------------------------


def encode_header(flags: int, seq: int, tick: int, server_time: float) -> bytes:
    return HEADER.pack(FrameType.STATE, flags, seq & 0xFFFFFFFF, tick & 0xFFFFFFFF, server_time)


def encode_leaves(ids: list[int]) -> bytes:
    return U16.pack(len(ids)) + struct.pack(f"<{len(ids)}H", *ids)


PLAYER_NAME_MAX_BYTES = 255 - PLAYER_BODY_HEAD.size
"""Longest name an ENTER body can carry (body_len is a u8). Hello names (at most 32 code
points, so at most 128 bytes) always fit; longer ones are cut at a character boundary."""


def _name_bytes(name: str) -> bytes:
    raw = name.encode("utf-8")
    if len(raw) <= PLAYER_NAME_MAX_BYTES:
        return raw
    cut = PLAYER_NAME_MAX_BYTES
    while raw[cut] & 0xC0 == 0x80:  # do not split a multi-byte character
        cut -= 1
    return raw[:cut]


def encode_player_enter(
    net_id: int, qx: int, qy: int, qz: int, heading: int, health: int, name: str
) -> bytes:
    raw = _name_bytes(name)
    body = PLAYER_BODY_HEAD.pack(qx, qy, qz, heading, health, len(raw)) + raw
    return ENTER_HEAD.pack(net_id, EntityKind.PLAYER, len(body)) + body


def encode_npc_enter(net_id: int, model: int, p: NpcPath) -> bytes:
    body = NPC_BODY.pack(model, p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick & 0xFFFFFFFF)
    return ENTER_HEAD.pack(net_id, EntityKind.NPC, len(body)) + body


def encode_path(net_id: int, p: NpcPath) -> bytes:
    return PATH_RECORD.pack(
        net_id, p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick & 0xFFFFFFFF
    )


def encode_move(m: Move) -> bytes:
    return MOVE.pack(m.id, m.qx, m.qy, m.qz, m.heading)


def encode_section(records: list[bytes]) -> bytes:
    """A counted section (ENTER or PATH) from already-encoded records."""
    return U16.pack(len(records)) + b"".join(records)


EMPTY_SECTION = U16.pack(0)


def encode_state(frame: StateFrame) -> bytes:
    """Whole frame from its decoded form (tests, vectors, simple servers)."""
    enters: list[bytes] = []
    for e in frame.enters:
        if isinstance(e, PlayerEnter):
            enters.append(encode_player_enter(e.id, e.qx, e.qy, e.qz, e.heading, e.health, e.name))
        elif isinstance(e, NpcEnter):
            enters.append(encode_npc_enter(e.id, e.model, e.path))
        else:
            enters.append(ENTER_HEAD.pack(e.id, e.kind, len(e.body)) + e.body)
    return b"".join(
        [
            encode_header(frame.flags, frame.seq, frame.tick, frame.server_time),
            encode_leaves(frame.leaves),
            encode_section(enters),
            encode_section([encode_path(i, p) for i, p in frame.paths]),
            *(encode_move(m) for m in frame.moves),
        ]
    )


def encode_input(f: InputFrame) -> bytes:
    return INPUT.pack(
        FrameType.INPUT, f.seq & 0xFFFFFFFF, f.ack & 0xFFFFFFFF, f.x, f.y, f.z, f.heading
    )


# --- decoding ---------------------------------------------------------------------------


def _bad(msg: str) -> ProtocolError:
    return ProtocolError(msg, error=ErrorCode.BAD_FRAME)


def decode_input(data: bytes) -> InputFrame:
    """Binary frame from a client -> input; errors carry BAD_FRAME or NON_FINITE."""
    if not data:
        raise _bad("empty binary frame")
    if data[0] != FrameType.INPUT:
        raise _bad(f"unknown binary frame type 0x{data[0]:02x}")
    if len(data) != INPUT.size:
        raise _bad(f"INPUT frame must be {INPUT.size} bytes, got {len(data)}")
    _, seq, ack, x, y, z, h = INPUT.unpack(data)
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z) and math.isfinite(h)):
        raise ProtocolError("position and heading must be finite", error=ErrorCode.NON_FINITE)
    return InputFrame(seq, ack, x, y, z, h)


def decode_header(data: bytes) -> tuple[int, int, int, float]:
    """(flags, seq, tick, server_time) of a STATE frame, without decoding the body.

    Load tools use this lean path to count frames and latency at thousands of frames/s."""
    if len(data) < HEADER.size or data[0] != FrameType.STATE:
        raise _bad("not a STATE frame")
    _, flags, seq, tick, t = HEADER.unpack_from(data)
    return flags, seq, tick, t


def decode_state(data: bytes) -> StateFrame:
    """STATE frame bytes -> decoded frame; truncated or inconsistent frames raise BAD_FRAME."""
    flags, seq, tick, t = decode_header(data)
    frame = StateFrame(seq=seq, tick=tick, server_time=t, flags=StateFlag(flags & 0xFF))
    mv = memoryview(data)
    off = HEADER.size
    try:
        (n,) = U16.unpack_from(mv, off)
        off += 2
        if off + 2 * n > len(data):
            raise _bad("LEAVE section truncated")
        frame.leaves = list(struct.unpack_from(f"<{n}H", mv, off))
        off += 2 * n
        (n,) = U16.unpack_from(mv, off)
        off += 2
        for _ in range(n):
            eid, kind, blen = ENTER_HEAD.unpack_from(mv, off)
            off += ENTER_HEAD.size
            body = bytes(mv[off : off + blen])
            if len(body) != blen:
                raise _bad("ENTER record truncated")
            off += blen
            frame.enters.append(_decode_enter(eid, kind, body))
        (n,) = U16.unpack_from(mv, off)
        off += 2
        for _ in range(n):
            eid, qx, qy, qz, wx, wy, sp, st = PATH_RECORD.unpack_from(mv, off)
            off += PATH_RECORD.size
            frame.paths.append((eid, NpcPath(qx, qy, qz, wx, wy, sp, st)))
    except struct.error:
        raise _bad("STATE frame truncated") from None
    rest = len(data) - off
    if rest % MOVE.size:
        raise _bad(f"MOVE section is {rest} bytes, not a multiple of {MOVE.size}")
    frame.moves = [Move(*r) for r in MOVE.iter_unpack(mv[off:])]
    return frame


def _decode_enter(eid: int, kind: int, body: bytes) -> Enter:
    if kind == EntityKind.PLAYER:
        if len(body) < PLAYER_BODY_HEAD.size:
            raise _bad("PLAYER enter body too short")
        qx, qy, qz, h, hp, nlen = PLAYER_BODY_HEAD.unpack_from(body)
        raw = body[PLAYER_BODY_HEAD.size : PLAYER_BODY_HEAD.size + nlen]
        if len(raw) != nlen:
            raise _bad("PLAYER enter name truncated")
        return PlayerEnter(eid, qx, qy, qz, h, hp, raw.decode("utf-8", "replace"))
    if kind == EntityKind.NPC:
        if len(body) < NPC_BODY.size:
            raise _bad("NPC enter body too short")
        model, qx, qy, qz, wx, wy, sp, st = NPC_BODY.unpack_from(body)
        return NpcEnter(eid, model, NpcPath(qx, qy, qz, wx, wy, sp, st))
    return UnknownEnter(eid, kind, body)
