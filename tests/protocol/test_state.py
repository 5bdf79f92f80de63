"""Binary frames: INPUT and STATE round trips, truncation, fuzzing, and the shared pieces."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.catalogue import EntityKind, ErrorCode, FrameType, ProtocolError, StateFlag
from protocol.state import (
    EMPTY_SECTION,
    HEADER,
    INPUT,
    MOVE,
    MOVE_DTYPE,
    PATH_RECORD,
    PLAYER_NAME_MAX_BYTES,
    InputFrame,
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    decode_header,
    decode_input,
    decode_state,
    encode_header,
    encode_input,
    encode_leaves,
    encode_move,
    encode_npc_enter,
    encode_path,
    encode_player_enter,
    encode_section,
    encode_state,
)
from tests.protocol.strategies import f32, input_frames, moves, state_frames, u32

EXAMPLES = settings(max_examples=80, deadline=None)


def _code(fn: object, *args: object) -> ErrorCode | None:
    with pytest.raises(ProtocolError) as ei:
        fn(*args)  # type: ignore[operator]
    assert ei.value.close is None
    return ei.value.error


# --- sizes fixed by the spec ------------------------------------------------------------


def test_record_sizes() -> None:
    assert HEADER.size == 18
    assert INPUT.size == 25
    assert MOVE.size == 9
    assert PATH_RECORD.size == 17
    assert len(encode_state(StateFrame(seq=1, tick=0, server_time=0.0))) == 24
    assert len(encode_npc_enter(1, 2, NpcPath(0, 0, 0, 0, 0, 0, 0))) == 4 + 17
    assert len(encode_player_enter(1, 0, 0, 0, 0, 0, "abc")) == 4 + 9 + 3


# --- INPUT ------------------------------------------------------------------------------


@EXAMPLES
@given(input_frames)
def test_input_round_trip(f: InputFrame) -> None:
    data = encode_input(f)
    assert len(data) == 25 and data[0] == FrameType.INPUT
    assert decode_input(data) == f


@EXAMPLES
@given(u32, u32, st.floats(allow_nan=False, allow_infinity=False, min_value=-3e38, max_value=3e38))
def test_input_carries_float32(seq: int, ack: int, x: float) -> None:
    got = decode_input(encode_input(InputFrame(seq, ack, x, 0.0, 0.0, 0.0)))
    assert got.x == struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", range(4))
def test_input_non_finite(bad: float, field: int) -> None:
    vals = [1.0, 2.0, 3.0, 4.0]
    vals[field] = bad
    data = INPUT.pack(FrameType.INPUT, 1, 0, *vals)
    assert _code(decode_input, data) == ErrorCode.NON_FINITE


@given(st.binary(max_size=40))
@settings(max_examples=150, deadline=None)
def test_input_fuzz(data: bytes) -> None:
    try:
        f = decode_input(data)
    except ProtocolError as e:
        assert e.error in (ErrorCode.BAD_FRAME, ErrorCode.NON_FINITE)
        if len(data) != 25 or data[0] != FrameType.INPUT:
            assert e.error == ErrorCode.BAD_FRAME
    else:
        assert len(data) == 25 and data[0] == FrameType.INPUT
        assert encode_input(f) == data or any(math.isnan(v) for v in struct.unpack("<4f", data[9:]))


def test_input_wrong_sizes_and_types() -> None:
    good = encode_input(InputFrame(1, 0, 0.0, 0.0, 0.0, 0.0))
    for data in (b"", good[:1], good[:-1], good + b"\x00", b"\x01" + good[1:], b"\xff" + good[1:]):
        assert _code(decode_input, data) == ErrorCode.BAD_FRAME


# --- STATE ------------------------------------------------------------------------------


@EXAMPLES
@given(state_frames)
def test_state_round_trip(frame: StateFrame) -> None:
    data = encode_state(frame)
    assert decode_state(data) == frame
    assert decode_header(data) == (int(frame.flags), frame.seq, frame.tick, frame.server_time)


@EXAMPLES
@given(state_frames)
def test_state_sections_built_from_pieces(frame: StateFrame) -> None:
    """The server assembles frames from shared pieces; the pieces must add up to encode_state."""
    enters = []
    for e in frame.enters:
        if isinstance(e, PlayerEnter):
            enters.append(encode_player_enter(e.id, e.qx, e.qy, e.qz, e.heading, e.health, e.name))
        elif isinstance(e, NpcEnter):
            enters.append(encode_npc_enter(e.id, e.model, e.path))
        else:
            enters.append(struct.pack("<HBB", e.id, e.kind, len(e.body)) + e.body)
    paths = (
        encode_section([encode_path(i, p) for i, p in frame.paths])
        if frame.paths
        else (EMPTY_SECTION)
    )
    moves_arr = np.array(
        [(m.id, m.qx, m.qy, m.qz, m.heading) for m in frame.moves], dtype=MOVE_DTYPE
    )
    built = b"".join(
        [
            encode_header(frame.flags, frame.seq, frame.tick, frame.server_time),
            encode_leaves(frame.leaves),
            encode_section(enters),
            paths,
            moves_arr.tobytes(),
        ]
    )
    assert built == encode_state(frame)


@EXAMPLES
@given(moves)
def test_move_dtype_matches_struct(m: Move) -> None:
    arr = np.array([(m.id, m.qx, m.qy, m.qz, m.heading)], dtype=MOVE_DTYPE)
    assert arr.tobytes() == encode_move(m)


@settings(max_examples=40, deadline=None)
@given(state_frames)
def test_every_truncation_is_rejected_or_a_whole_move_prefix(frame: StateFrame) -> None:
    data = encode_state(frame)
    sections_end = len(data) - MOVE.size * len(frame.moves)
    for n in range(len(data)):
        prefix = data[:n]
        if n < sections_end or (n - sections_end) % MOVE.size:
            assert _code(decode_state, prefix) == ErrorCode.BAD_FRAME, n
        else:
            got = decode_state(prefix)
            assert got.moves == frame.moves[: (n - sections_end) // MOVE.size]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_state_fuzz_raises_only_bad_frame(tail: bytes) -> None:
    for data in (tail, b"\x01" + tail, encode_header(0, 1, 1, 0.0) + tail):
        try:
            decode_state(data)
        except ProtocolError as e:
            assert e.error == ErrorCode.BAD_FRAME


def test_state_type_byte() -> None:
    body = encode_state(StateFrame(seq=1, tick=1, server_time=0.0))
    for t in (0x00, FrameType.INPUT, 0x02, 0xFF):
        assert _code(decode_state, bytes([t]) + body[1:]) == ErrorCode.BAD_FRAME
        assert _code(decode_header, bytes([t]) + body[1:]) == ErrorCode.BAD_FRAME


def test_unknown_flag_bits_kept() -> None:
    f = decode_state(
        encode_state(StateFrame(seq=1, tick=1, server_time=0.0, flags=StateFlag(0xFE)))
    )
    assert int(f.flags) == 0xFE and not f.full


def test_unknown_enter_kind_skipped_by_length() -> None:
    body = bytes(range(30))
    frame = b"".join(
        [
            encode_header(0, 5, 6, 7.0),
            encode_leaves([]),
            struct.pack("<H", 2),
            struct.pack("<HBB", 3, 77, len(body)) + body,
            encode_player_enter(4, 1, 2, 3, 4, 5, "Eve"),
            EMPTY_SECTION,
            encode_move(Move(4, 9, 9, 9, 9)),
        ]
    )
    got = decode_state(frame)
    assert [type(e).__name__ for e in got.enters] == ["UnknownEnter", "PlayerEnter"]
    assert got.moves == [Move(4, 9, 9, 9, 9)]
    assert encode_state(got) == frame


def test_known_enter_bodies_may_grow() -> None:
    player = encode_player_enter(4, 1, 2, 3, 4, 5, "Eve")
    grown = player[:3] + bytes([player[3] + 2]) + player[4:] + b"\xaa\xbb"
    npc = encode_npc_enter(9, 7, NpcPath(1, 2, 3, 4, 5, 6, 7))
    grown_npc = npc[:3] + bytes([npc[3] + 1]) + npc[4:] + b"\xcc"
    frame = b"".join(
        [
            encode_header(0, 1, 1, 0.0),
            encode_leaves([]),
            encode_section([grown, grown_npc]),
            EMPTY_SECTION,
        ]
    )
    got = decode_state(frame)
    assert got.enters == [
        PlayerEnter(4, 1, 2, 3, 4, 5, "Eve"),
        NpcEnter(9, 7, NpcPath(1, 2, 3, 4, 5, 6, 7)),
    ]


def test_player_name_cut_at_character_boundary() -> None:
    name = "é" * 200  # 400 bytes of UTF-8
    rec = encode_player_enter(1, 0, 0, 0, 0, 0, name)
    assert rec[3] <= 255
    got = decode_state(
        b"".join(
            [encode_header(0, 1, 1, 0.0), encode_leaves([]), encode_section([rec]), EMPTY_SECTION]
        )
    )
    e = got.enters[0]
    assert isinstance(e, PlayerEnter)
    assert name.startswith(e.name) and len(e.name.encode()) <= PLAYER_NAME_MAX_BYTES
    assert len(e.name.encode()) > PLAYER_NAME_MAX_BYTES - 2
    emoji = "\U0001f600" * 80
    rec = encode_player_enter(1, 0, 0, 0, 0, 0, emoji)
    raw = rec[4 + 9 :]
    assert raw.decode("utf-8") == "\U0001f600" * (PLAYER_NAME_MAX_BYTES // 4)


def test_invalid_utf8_name_is_replaced_not_fatal() -> None:
    body = struct.pack("<HHHBBB", 1, 2, 3, 4, 5, 2) + b"\xff\xfe"
    frame = b"".join(
        [
            encode_header(0, 1, 1, 0.0),
            encode_leaves([]),
            struct.pack("<H", 1),
            struct.pack("<HBB", 8, EntityKind.PLAYER, len(body)),
            body,
            EMPTY_SECTION,
        ]
    )
    e = decode_state(frame).enters[0]
    assert isinstance(e, PlayerEnter) and e.name == "\ufffd\ufffd"


@EXAMPLES
@given(u32, u32, f32)
def test_header_wraps_u32(seq: int, tick: int, t: float) -> None:
    data = encode_header(StateFlag.FULL, seq + 2**32, tick + 2**32, t)
    assert decode_header(data) == (1, seq, tick, t)
