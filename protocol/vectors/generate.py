"""Generate the protocol test vectors (the JSON files beside this module).

Run `python -m protocol.vectors.generate` from the repository root after changing the protocol;
`--check` exits 1 if the committed files differ from what the code produces now. Output is
deterministic: no clocks, no randomness, fixed key order.

Every case is built with the protocol package's own encoders, decoded again with its decoders,
and checked before it is written, so a vector can only say what the code does. The JSON shape
of each file is documented in README.md.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from protocol import control as c
from protocol.catalogue import EntityKind, ErrorCode, FrameType, ProtocolError, StateFlag
from protocol.quant import (
    WorldBounds,
    dequantise_heading,
    dequantise_position,
    quantise_heading,
    quantise_position,
    speed_from_wire,
    speed_to_wire,
)
from protocol.state import (
    ENTER_HEAD,
    HEADER,
    INPUT,
    NPC_BODY,
    PATH_BODY,
    PLAYER_BODY_HEAD,
    U16,
    Enter,
    InputFrame,
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    UnknownEnter,
    decode_input,
    decode_state,
    encode_input,
    encode_move,
    encode_state,
)

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent

MISSION_ID = "5b0f3c1e-8a2d-4f6b-9c61-2f0d7e9a4b10"
MISSION_OFFERED: Json = {
    "id": MISSION_ID,
    "status": "offered",
    "title": "Package for the garage to the north",
    "description": "Tyrone Banks needs a package dropped at the garage to the north.",
    "objectives": [
        {
            "kind": "reach_place",
            "place": "the garage to the north",
            "radius_m": 15.0,
            "x": 12.5,
            "y": 80.0,
            "progress": 0.0,
            "done": False,
        }
    ],
    "difficulty": 2,
    "estimated_minutes": 9,
    "reward": {"money": 340, "reputation": 4},
    "faction_impact": [{"faction": "ballas", "delta": 4}, {"faction": "vagos", "delta": -2}],
    "giver": {"npc": 1000, "name": "Tyrone Banks", "faction": "ballas"},
    "expires_at": 1767225600.0,
}
MISSION_ESCORT: Json = {
    **MISSION_OFFERED,
    "id": "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "title": "Safe ride to the motel to the west",
    "description": "Lamar Davis needs to get to the motel to the west in one piece.",
    "objectives": [
        {
            "kind": "bring_npc",
            "npc_id": 1003,
            "place": "the motel to the west",
            "radius_m": 15.0,
            "x": -40.0,
            "y": 12.5,
            "npc_name": "Lamar Davis",
            "progress": 0.0,
            "done": False,
        }
    ],
}
MISSION_COMPLETED: Json = {
    **{k: v for k, v in MISSION_OFFERED.items() if k != "expires_at"},
    "status": "completed",
    "objectives": [{**MISSION_OFFERED["objectives"][0], "progress": 1.0, "done": True}],
    "paid": 340,
    "repeated": False,
    "balance": 1590,
    "relations": [
        {"faction": "ballas", "other": "vagos", "delta": -2, "strength": -2, "stance": "neutral"}
    ],
}

WORLD = WorldBounds(-4000.0, -4000.0, -200.0, 4000.0, 4000.0, 1800.0)
"""The default configuration's world bounds (WORLD_MIN_X ... WORLD_MAX_Z)."""

TICK_RATE = 60
T0 = 1767225600.0  # 2026-01-01T00:00:00Z, a round server_time for the examples


# --- decoded forms as plain JSON (shared with the tests) ---------------------------------


def path_to_json(p: NpcPath) -> Json:
    return {
        "qx": p.qx,
        "qy": p.qy,
        "qz": p.qz,
        "wx": p.wx,
        "wy": p.wy,
        "speed": p.speed,
        "start_tick": p.start_tick,
    }


def path_from_json(d: Json) -> NpcPath:
    return NpcPath(d["qx"], d["qy"], d["qz"], d["wx"], d["wy"], d["speed"], d["start_tick"])


def enter_to_json(e: Enter) -> Json:
    if isinstance(e, PlayerEnter):
        return {
            "id": e.id,
            "kind": int(EntityKind.PLAYER),
            "qx": e.qx,
            "qy": e.qy,
            "qz": e.qz,
            "heading": e.heading,
            "health": e.health,
            "name": e.name,
        }
    if isinstance(e, NpcEnter):
        return {
            "id": e.id,
            "kind": int(EntityKind.NPC),
            "model": e.model,
            "path": path_to_json(e.path),
        }
    return {"id": e.id, "kind": e.kind, "body": e.body.hex()}


def enter_from_json(d: Json) -> Enter:
    if d["kind"] == EntityKind.PLAYER:
        return PlayerEnter(d["id"], d["qx"], d["qy"], d["qz"], d["heading"], d["health"], d["name"])
    if d["kind"] == EntityKind.NPC:
        return NpcEnter(d["id"], d["model"], path_from_json(d["path"]))
    return UnknownEnter(d["id"], d["kind"], bytes.fromhex(d["body"]))


def move_to_json(m: Move) -> Json:
    return {"id": m.id, "qx": m.qx, "qy": m.qy, "qz": m.qz, "heading": m.heading}


def state_to_json(f: StateFrame) -> Json:
    return {
        "flags": int(f.flags),
        "full": f.full,
        "seq": f.seq,
        "tick": f.tick,
        "server_time": f.server_time,
        "leaves": list(f.leaves),
        "enters": [enter_to_json(e) for e in f.enters],
        "paths": [{"id": i, "path": path_to_json(p)} for i, p in f.paths],
        "moves": [move_to_json(m) for m in f.moves],
    }


def state_from_json(d: Json) -> StateFrame:
    return StateFrame(
        seq=d["seq"],
        tick=d["tick"],
        server_time=d["server_time"],
        flags=StateFlag(d["flags"]),
        leaves=list(d["leaves"]),
        enters=[enter_from_json(e) for e in d["enters"]],
        paths=[(p["id"], path_from_json(p["path"])) for p in d["paths"]],
        moves=[Move(m["id"], m["qx"], m["qy"], m["qz"], m["heading"]) for m in d["moves"]],
    )


def input_to_json(f: InputFrame) -> Json:
    return {"seq": f.seq, "ack": f.ack, "x": f.x, "y": f.y, "z": f.z, "heading": f.heading}


def input_from_json(d: Json) -> InputFrame:
    return InputFrame(d["seq"], d["ack"], d["x"], d["y"], d["z"], d["heading"])


CLIENT_TYPES: dict[str, type[Any]] = {
    m.OP: m
    for m in (
        c.Hello,
        c.Ping,
        c.Chat,
        c.Talk,
        c.Leave,
        c.Custom,
        c.Who,
        c.Faction,
        c.Companion,
        c.Mission,
    )
}
SERVER_TYPES: dict[str, type[Any]] = {
    m.OP: m
    for m in (
        c.Welcome,
        c.Pong,
        c.Error,
        c.Reconnect,
        c.Correct,
        c.ChatMessage,
        c.NpcSay,
        c.GameEvent,
        c.CustomMessage,
        c.WhoReply,
        c.NpcSayPart,
    )
}


def control_to_json(msg: c.ClientMessage | c.ServerMessage) -> Json:
    """Every field, `None` as null, `op` first."""
    out: Json = {"op": str(msg.OP)}
    for f in fields(msg):
        out[f.name] = getattr(msg, f.name)
    return out


def control_from_json(d: Json, sender: str) -> c.ClientMessage | c.ServerMessage:
    types = CLIENT_TYPES if sender == "client" else SERVER_TYPES
    cls = types[d["op"]]
    msg: c.ClientMessage | c.ServerMessage = cls(**{k: v for k, v in d.items() if k != "op"})
    return msg


# --- helpers -----------------------------------------------------------------------------


def _raises(fn: Callable[[], object]) -> ProtocolError:
    try:
        fn()
    except ProtocolError as e:
        return e
    raise AssertionError("expected a ProtocolError")


def _failure(e: ProtocolError) -> Json:
    if e.error is not None:
        return {"error": e.error.name, "error_code": int(e.error)}
    assert e.close is not None
    return {"close": e.close.name, "close_code": int(e.close)}


def _q(x: float, y: float, z: float) -> tuple[int, int, int]:
    return quantise_position(WORLD, x, y, z)


def _player(
    nid: int, x: float, y: float, z: float, deg: float, health: int, name: str
) -> PlayerEnter:
    qx, qy, qz = _q(x, y, z)
    return PlayerEnter(nid, qx, qy, qz, quantise_heading(deg), health, name)


def _path(x: float, y: float, z: float, wx: float, wy: float, mps: float, tick: int) -> NpcPath:
    qx, qy, qz = _q(x, y, z)
    qwx, qwy, _ = _q(wx, wy, 0.0)
    return NpcPath(qx, qy, qz, qwx, qwy, speed_to_wire(mps), tick)


def _move(nid: int, x: float, y: float, z: float, deg: float) -> Move:
    qx, qy, qz = _q(x, y, z)
    return Move(nid, qx, qy, qz, quantise_heading(deg))


def _header(flags: int, seq: int, tick: int, t: float) -> bytes:
    return HEADER.pack(FrameType.STATE, flags, seq, tick, t)


# --- STATE frames ------------------------------------------------------------------------


def _state_ok(name: str, description: str, data: bytes) -> Json:
    frame = decode_state(data)
    decoded = state_to_json(frame)
    assert state_to_json(state_from_json(decoded)) == decoded
    return {
        "name": name,
        "description": description,
        "hex": data.hex(),
        "size": len(data),
        "decoded": decoded,
        "canonical": encode_state(frame) == data,
    }


def _state_bad(name: str, description: str, data: bytes) -> Json:
    e = _raises(lambda: decode_state(data))
    return {"name": name, "description": description, "hex": data.hex(), **_failure(e)}


def state_cases() -> list[Json]:
    ana = _player(1, 12.5, -40.25, 30.0, 90.0, 100, "Ana")
    bob = _player(2, 60.0, 10.0, 31.5, 180.0, 75, "Bob")
    npc_a = NpcEnter(1000, 17, _path(-100.0, 200.0, 0.0, 150.0, 220.0, 2.0, 900))
    npc_b = NpcEnter(1001, 233, _path(40.0, 40.0, 0.0, 40.0, -300.0, 2.0, 990))
    full = StateFrame(
        seq=1,
        tick=1000,
        server_time=T0 + 16.75,
        flags=StateFlag.FULL,
        enters=[ana, bob, npc_a, npc_b],
    )
    mixed = StateFrame(
        seq=7,
        tick=1012,
        server_time=T0 + 16.875,
        leaves=[2],
        enters=[
            _player(5, -20.0, -20.0, 29.0, 45.0, 100, "Cleo"),
            NpcEnter(1002, 5, _path(250.0, -10.0, 0.0, 0.0, 0.0, 2.0, 1010)),
        ],
        paths=[(1000, _path(150.0, 220.0, 0.0, -500.0, 600.0, 2.0, 1011))],
        moves=[_move(1, 13.0, -40.0, 30.0, 95.0), _move(5, -19.5, -20.25, 29.0, 45.0)],
    )
    unknown_body = bytes.fromhex("deadbeef01")
    unknown = b"".join(
        [
            _header(0, 9, 1016, T0 + 16.9375),
            U16.pack(0),
            U16.pack(2),
            ENTER_HEAD.pack(4000, 9, len(unknown_body)),
            unknown_body,
            ENTER_HEAD.pack(6, EntityKind.PLAYER, PLAYER_BODY_HEAD.size + 3),
            PLAYER_BODY_HEAD.pack(*_q(5.0, 5.0, 30.0), 0, 100, 3),
            b"Dan",
            U16.pack(0),
            encode_move(Move(1, *_q(13.5, -40.0, 30.0), 64)),
        ]
    )
    long_ascii = "N" * c.NAME_MAX
    long_astral = "\U0001d4d0" * c.NAME_MAX  # MATHEMATICAL BOLD SCRIPT CAPITAL A, 4 bytes in UTF-8
    q5 = _q(5.0, 5.0, 30.0)
    ext_player = b"".join(
        [
            _header(0, 11, 1020, T0 + 17.0),
            U16.pack(0),
            U16.pack(1),
            ENTER_HEAD.pack(7, EntityKind.PLAYER, PLAYER_BODY_HEAD.size + 3 + 4),
            PLAYER_BODY_HEAD.pack(*q5, 128, 90, 3),
            b"Eve",
            b"\x01\x02\x03\x04",
            U16.pack(0),
        ]
    )
    npc_path = _path(0.0, 0.0, 0.0, 10.0, 10.0, 2.0, 1000)
    ext_npc = b"".join(
        [
            _header(0, 12, 1022, T0 + 17.0),
            U16.pack(0),
            U16.pack(1),
            ENTER_HEAD.pack(1003, EntityKind.NPC, NPC_BODY.size + 2),
            NPC_BODY.pack(
                44,
                npc_path.qx,
                npc_path.qy,
                npc_path.qz,
                npc_path.wx,
                npc_path.wy,
                npc_path.speed,
                npc_path.start_tick,
            ),
            b"\xff\xff",
            U16.pack(0),
        ]
    )
    empty = encode_state(StateFrame(seq=2, tick=1002, server_time=T0 + 16.78125))
    header_only = empty[: HEADER.size]
    player_short_body = b"".join(
        [
            _header(0, 3, 1004, T0),
            U16.pack(0),
            U16.pack(1),
            ENTER_HEAD.pack(8, EntityKind.PLAYER, 5),
            b"\x00" * 5,
            U16.pack(0),
        ]
    )
    name_past_body = b"".join(
        [
            _header(0, 3, 1004, T0),
            U16.pack(0),
            U16.pack(1),
            ENTER_HEAD.pack(8, EntityKind.PLAYER, PLAYER_BODY_HEAD.size + 2),
            PLAYER_BODY_HEAD.pack(1, 2, 3, 0, 100, 5),
            b"Ab",
            U16.pack(0),
        ]
    )
    npc_short_body = b"".join(
        [
            _header(0, 3, 1004, T0),
            U16.pack(0),
            U16.pack(1),
            ENTER_HEAD.pack(1004, EntityKind.NPC, 15),
            b"\x00" * 15,
            U16.pack(0),
        ]
    )
    full_bytes = encode_state(full)
    mixed_bytes = encode_state(mixed)
    path_frame = encode_state(
        StateFrame(
            seq=20,
            tick=1100,
            server_time=T0 + 18.0,
            paths=[(1001, _path(40.0, -300.0, 0.0, 400.0, -300.0, 2.0, 1099))],
        )
    )
    cases = [
        _state_ok(
            "empty_delta",
            "A delta with nothing to report: header plus three zero counts, 24 bytes. "
            "Sent only as the IDLE_PATCH_INTERVAL heartbeat (a due patch with nothing in it "
            "is otherwise skipped, SPEC 3.6); it carries seq, tick and server_time.",
            empty,
        ),
        _state_ok(
            "full_snapshot",
            "First frame after welcome: FULL flag, ENTER for every visible entity (the "
            "client's own player net_id 1, another player, two NPCs with their paths).",
            full_bytes,
        ),
        _state_ok(
            "leave_only",
            "Three entities stopped being visible; nothing else changed.",
            encode_state(
                StateFrame(seq=3, tick=1004, server_time=T0 + 16.8125, leaves=[2, 1000, 1001])
            ),
        ),
        _state_ok(
            "moves_only",
            "Absolute quantised MOVE records for two players, including the client's own "
            "entity (the echo). MOVE records run to the end of the frame, 9 bytes each.",
            encode_state(
                StateFrame(
                    seq=4,
                    tick=1006,
                    server_time=T0 + 16.84375,
                    moves=[_move(1, 12.75, -40.25, 30.0, 91.0), _move(2, 61.0, 10.5, 31.5, 180.0)],
                )
            ),
        ),
        _state_ok("path_only", "An NPC reached its waypoint and set off on a new leg.", path_frame),
        _state_ok(
            "mixed_delta",
            "Every section at once: one LEAVE, a player and an NPC ENTER, a new PATH, two MOVEs.",
            mixed_bytes,
        ),
        _state_ok(
            "unknown_enter_kind_skipped",
            "An ENTER of kind 9 (unknown to protocol v1) is skipped by its body_len; the "
            "PLAYER ENTER after it and the MOVE still decode. Decoders keep the raw body.",
            unknown,
        ),
        _state_ok(
            "max_length_name_ascii",
            f"A player ENTER whose name is {c.NAME_MAX} ASCII characters (the hello limit).",
            encode_state(
                StateFrame(
                    seq=5,
                    tick=1008,
                    server_time=T0 + 16.875,
                    enters=[_player(9, 0.0, 0.0, 0.0, 0.0, 100, long_ascii)],
                )
            ),
        ),
        _state_ok(
            "max_length_name_utf8",
            f"A player ENTER whose name is {c.NAME_MAX} code points of 4 UTF-8 bytes each: "
            "name_len 128, body_len 137. Names are counted in code points, sent as UTF-8.",
            encode_state(
                StateFrame(
                    seq=6,
                    tick=1010,
                    server_time=T0 + 16.90625,
                    enters=[_player(10, 1.0, 2.0, 3.0, 359.0, 1, long_astral)],
                )
            ),
        ),
        _state_ok(
            "player_enter_body_extended",
            "A PLAYER ENTER whose body has 4 bytes after the name (a later protocol "
            "revision appending fields). Decoders ignore them; re-encoding drops them.",
            ext_player,
        ),
        _state_ok(
            "npc_enter_body_extended",
            "An NPC ENTER whose body has 2 bytes after the 17 known ones; ignored.",
            ext_npc,
        ),
        _state_ok(
            "unknown_flag_bits",
            "flags 0x81: FULL plus a bit protocol v1 does not define. Clients act on FULL "
            "and ignore the unknown bit.",
            encode_state(
                StateFrame(
                    seq=1,
                    tick=2000,
                    server_time=T0 + 33.25,
                    flags=StateFlag(0x81),
                    enters=[ana],
                )
            ),
        ),
        _state_ok(
            "leave_then_enter_same_id",
            "net_id 7 left and a different entity entered under the same id in one frame: "
            "LEAVE is applied before ENTER, so the client ends up with the new NPC.",
            encode_state(
                StateFrame(
                    seq=30,
                    tick=1200,
                    server_time=T0 + 20.0,
                    leaves=[7],
                    enters=[NpcEnter(7, 12, _path(5.0, 5.0, 0.0, 80.0, 5.0, 2.0, 1199))],
                )
            ),
        ),
        _state_ok(
            "extreme_values",
            "Largest values of every field: seq, tick and start_tick 2^32-1, quantised "
            "coordinates 65535, heading 255, health 255, speed 255 (25.5 m/s).",
            encode_state(
                StateFrame(
                    seq=0xFFFFFFFF,
                    tick=0xFFFFFFFF,
                    server_time=T0 + 0.5,
                    leaves=[0xFFFF],
                    enters=[
                        PlayerEnter(0xFFFE, 65535, 65535, 65535, 255, 255, "Z"),
                        NpcEnter(
                            0xFFFD,
                            0xFFFF,
                            NpcPath(65535, 65535, 65535, 0, 0, 255, 0xFFFFFFFF),
                        ),
                    ],
                    paths=[(0xFFFD, NpcPath(0, 0, 0, 65535, 65535, 255, 0xFFFFFFFF))],
                    moves=[Move(0xFFFE, 65535, 65535, 65535, 255)],
                )
            ),
        ),
        _state_bad("empty_frame", "A binary frame with no bytes.", b""),
        _state_bad(
            "header_truncated", "17 bytes: one short of the 18-byte header.", full_bytes[:17]
        ),
        _state_bad(
            "wrong_frame_type",
            "First byte 0x10 (INPUT) where a STATE frame (0x01) is expected.",
            bytes([FrameType.INPUT]) + empty[1:],
        ),
        _state_bad(
            "unknown_frame_type",
            "First byte 0x7f: no such frame type in protocol v1.",
            b"\x7f" + empty[1:],
        ),
        _state_bad("no_sections", "Header only: the LEAVE count is missing.", header_only),
        _state_bad(
            "leave_truncated",
            "LEAVE count 3 but only two net ids follow (and nothing after).",
            header_only + U16.pack(3) + struct.pack("<2H", 1, 2),
        ),
        _state_bad(
            "enter_count_missing",
            "LEAVE section complete, then the frame ends.",
            header_only + U16.pack(0),
        ),
        _state_bad(
            "enter_head_truncated",
            "ENTER count 1 but only 3 of the 4 record-head bytes.",
            header_only + U16.pack(0) + U16.pack(1) + b"\x01\x00\x01",
        ),
        _state_bad(
            "enter_body_truncated",
            "The NPC ENTER's body_len (17) runs past the end of the frame.",
            full_bytes[: HEADER.size + 2 + 2 + (4 + 12) + (4 + 12) + 4 + 10],
        ),
        _state_bad(
            "player_body_too_short",
            "A PLAYER ENTER with body_len 5, less than the 9 fixed bytes.",
            player_short_body,
        ),
        _state_bad(
            "player_name_past_body",
            "A PLAYER ENTER whose name_len (5) is longer than what its body_len leaves (2).",
            name_past_body,
        ),
        _state_bad(
            "npc_body_too_short",
            "An NPC ENTER with body_len 15, less than the 17 fixed bytes.",
            npc_short_body,
        ),
        _state_bad(
            "path_count_missing",
            "LEAVE and ENTER sections complete, then the frame ends.",
            header_only + U16.pack(0) + U16.pack(0),
        ),
        _state_bad(
            "path_record_truncated",
            "PATH count 1 but only 16 of the 17 record bytes.",
            path_frame[:-1],
        ),
        _state_bad(
            "move_section_ragged",
            "After the PATH section, 13 bytes: one MOVE record and 4 stray bytes.",
            empty + struct.pack("<HHHHB", 1, 2, 3, 4, 5) + b"\x00\x00\x00\x00",
        ),
    ]
    return cases


# --- INPUT frames ------------------------------------------------------------------------


def _input_ok(name: str, description: str, data: bytes) -> Json:
    f = decode_input(data)
    return {
        "name": name,
        "description": description,
        "hex": data.hex(),
        "decoded": input_to_json(f),
        "canonical": encode_input(f) == data,
    }


def _input_bad(name: str, description: str, data: bytes) -> Json:
    e = _raises(lambda: decode_input(data))
    return {"name": name, "description": description, "hex": data.hex(), **_failure(e)}


def _raw_input(seq: int, ack: int, x: float, y: float, z: float, h: float) -> bytes:
    return INPUT.pack(FrameType.INPUT, seq, ack, x, y, z, h)


def input_cases() -> list[Json]:
    nan = float("nan")
    inf = float("inf")
    typical = _raw_input(42, 41, 12.5, -40.25, 30.0, 90.0)
    return [
        _input_ok(
            "typical",
            "Input seq 42 acknowledging STATE seq 41: position (12.5, -40.25, 30) m, heading 90.",
            typical,
        ),
        _input_ok(
            "first_input",
            "The first input of a connection: seq 1, ack 0 (no STATE frame received yet).",
            _raw_input(1, 0, 0.0, 0.0, 0.0, 0.0),
        ),
        _input_ok(
            "float32_rounding",
            "Coordinates travel as float32: 0.1 arrives as 0.10000000149011612.",
            _raw_input(2, 1, 0.1, -1234.567, 72.3, 359.9),
        ),
        _input_ok(
            "heading_unnormalised",
            "Any finite heading is accepted (here -450 and a seq/ack of 2^32-1); the server "
            "reduces headings modulo 360.",
            _raw_input(0xFFFFFFFF, 0xFFFFFFFF, -3999.5, 3999.5, -199.0, -450.0),
        ),
        _input_ok(
            "outside_world_decodes",
            "A finite position outside the world decodes fine; the server then answers "
            "OUT_OF_BOUNDS and a correct (that is game logic, not framing).",
            _raw_input(3, 2, 5000.0, 0.0, 0.0, 0.0),
        ),
        _input_bad("empty", "A binary frame with no bytes.", b""),
        _input_bad("truncated", "24 bytes: one short.", typical[:-1]),
        _input_bad("too_long", "26 bytes: one extra byte.", typical + b"\x00"),
        _input_bad(
            "state_type_from_client",
            "Type byte 0x01 (STATE) from a client.",
            b"\x01" + typical[1:],
        ),
        _input_bad("unknown_type", "Type byte 0x42: no such frame type.", b"\x42" + typical[1:]),
        _input_bad("nan_x", "x is NaN.", _raw_input(4, 3, nan, 0.0, 0.0, 0.0)),
        _input_bad("infinite_z", "z is -infinity.", _raw_input(5, 4, 0.0, 0.0, -inf, 0.0)),
        _input_bad(
            "infinite_heading", "heading is +infinity.", _raw_input(6, 5, 0.0, 0.0, 0.0, inf)
        ),
        _input_bad(
            "nan_and_truncated",
            "Length is checked before values: a 24-byte frame holding NaN is BAD_FRAME.",
            _raw_input(7, 6, nan, 0.0, 0.0, 0.0)[:-1],
        ),
    ]


# --- JSON control messages ---------------------------------------------------------------


def _ctl_ok(name: str, description: str, sender: str, context: str, text: str) -> Json:
    if sender == "server":
        msg: c.ClientMessage | c.ServerMessage = c.decode_server(text)
    elif context == "first":
        msg = c.decode_first(text)
    else:
        msg = c.decode_client(text)
    decoded = control_to_json(msg)
    assert control_from_json(decoded, sender) == msg
    return {
        "name": name,
        "description": description,
        "sender": sender,
        "context": context,
        "text": text,
        "decoded": decoded,
        "canonical": c.encode(msg) == text.encode("utf-8"),
    }


def _ctl_bad(name: str, description: str, sender: str, context: str, text: str) -> Json:
    if sender == "server":
        e = _raises(lambda: c.decode_server(text))
    elif context == "first":
        e = _raises(lambda: c.decode_first(text))
    else:
        e = _raises(lambda: c.decode_client(text))
    return {
        "name": name,
        "description": description,
        "sender": sender,
        "context": context,
        "text": text,
        **_failure(e),
    }


def _ctl_bad_bytes(name: str, description: str, context: str, data: bytes) -> Json:
    """A client text message that is not even UTF-8, so it is given as `hex`, not `text`."""
    decode = c.decode_first if context == "first" else c.decode_client
    e = _raises(lambda: decode(data))
    return {
        "name": name,
        "description": description,
        "sender": "client",
        "context": context,
        "hex": data.hex(),
        **_failure(e),
    }


def _enc(msg: c.ClientMessage | c.ServerMessage) -> str:
    return c.encode(msg).decode("utf-8")


def control_cases() -> list[Json]:
    welcome = c.Welcome(
        v=1,
        player_id="6f1c2b9e-3d4a-4c8e-9b7a-2e5f0a1d3c4b",
        net_id=1,
        name="Ana",
        server_name="GangGPT Server",
        tick_rate=60,
        send_rate=30,
        tick=1000,
        server_time=T0 + 16.75,
        world=WORLD.as_dict(),
        aoi_radius=300.0,
        aoi_cell_size=50.0,
        resume_token="r1.6f1c2b9e3d4a4c8e.k8Jv2Q",
        resume_window=60.0,
        max_message_size=4096,
        input_rate_limit=120,
        resumed=False,
        x=12.5,
        y=-40.25,
        z=30.0,
        heading=90.0,
        limits={  # the default configuration's (server.limits.welcome_limits)
            "player_max_speed": 60.0,
            "move_slack": 2.0,
            "move_burst": 62.0,
            "player_max_climb_speed": 25.0,
            "climb_burst": 27.0,
            "world_floor_z": -200.0,
            "violation_kick_score": 50.0,
            "violation_half_life": 60.0,
            "idle_patch_interval": 1.0,
            "ping_interval": 20.0,
            "ping_timeout": 20.0,
            "handshake_timeout": 5.0,
            "flood_close_after": 3,
            "error_budget": 20,
            "error_window": 10.0,
            "slow_client_timeout": 10.0,
            "send_queue_max": 1048576,
            "aoi_near_distance": 75.0,
            "aoi_mid_distance": 200.0,
            "aoi_mid_every": 4,
            "aoi_far_every": 8,
        },
    )
    welcome_json = _enc(welcome)
    name33 = "\U0001d4d0" * (c.NAME_MAX + 1)
    name32 = "\U0001d4d0" * c.NAME_MAX
    cl, sv = "client", "server"
    first, session = "first", "session"
    return [
        # --- the first message of a connection ---
        _ctl_ok(
            "hello_minimal",
            "A guest hello: no account token, nothing to resume.",
            cl,
            first,
            _enc(c.Hello(v=1, name="Ana")),
        ),
        _ctl_ok(
            "hello_resume",
            "A hello carrying a JWT and the resume token from an earlier welcome.",
            cl,
            first,
            _enc(
                c.Hello(
                    v=1,
                    name="Ana",
                    token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJl",
                    resume="r1.6f1c2b9e3d4a4c8e.k8Jv2Q",
                )
            ),
        ),
        _ctl_ok(
            "hello_explicit_nulls",
            "token and resume given as null mean the same as leaving them out.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","token":null,"resume":null}',
        ),
        _ctl_ok(
            "hello_unknown_fields",
            "Fields the server does not know are ignored (forward compatibility).",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","client":"ragemp-sdk/0.3","locale":"de"}',
        ),
        _ctl_ok(
            "hello_name_32_code_points",
            "32 code points of 4 UTF-8 bytes each (64 UTF-16 units in JavaScript): the limit "
            "is code points, so this is valid.",
            cl,
            first,
            _enc(c.Hello(v=1, name=name32)),
        ),
        _ctl_bad(
            "hello_name_33_code_points",
            "One code point over the 32 limit.",
            cl,
            first,
            _enc(c.Hello(v=1, name=name33)),
        ),
        _ctl_bad(
            "hello_name_empty",
            "Names are 1 to 32 code points.",
            cl,
            first,
            '{"op":"hello","v":1,"name":""}',
        ),
        _ctl_bad(
            "hello_name_control_char",
            "Control characters (U+0000..U+001F) are not allowed in names.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana\\nBob"}',
        ),
        _ctl_bad("hello_name_missing", "name is required.", cl, first, '{"op":"hello","v":1}'),
        _ctl_bad(
            "hello_name_number",
            "name must be a string.",
            cl,
            first,
            '{"op":"hello","v":1,"name":7}',
        ),
        _ctl_ok(
            "hello_spectate",
            "An administrator's camera (SPEC §3.8): a token with admin:commands and "
            "`spectate`: true.",
            cl,
            first,
            _enc(
                c.Hello(
                    v=1,
                    name="dashboard",
                    token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJl",
                    spectate=True,
                )
            ),
        ),
        _ctl_ok(
            "hello_spectate_false",
            "`spectate`: false means the same as leaving it out: a player's hello.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","spectate":false}',
        ),
        _ctl_bad(
            "hello_spectate_string",
            "`spectate` must be a JSON boolean.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","spectate":"yes"}',
        ),
        _ctl_bad("hello_v_missing", "v is required.", cl, first, '{"op":"hello","name":"Ana"}'),
        _ctl_bad(
            "hello_v_string",
            "v must be a JSON integer, not a string.",
            cl,
            first,
            '{"op":"hello","v":"1","name":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_float",
            "v must be a JSON integer: 1.0 is a float.",
            cl,
            first,
            '{"op":"hello","v":1.0,"name":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_bool",
            "true is not an integer.",
            cl,
            first,
            '{"op":"hello","v":true,"name":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_unsupported",
            "Version 2 is not supported by this server.",
            cl,
            first,
            '{"op":"hello","v":2,"name":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_unsupported_checked_first",
            "The version is checked before any other field: a v2 hello with fields v1 would "
            "reject still gets UNSUPPORTED_VERSION.",
            cl,
            first,
            '{"op":"hello","v":2,"nick":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_zero",
            "Version 0 does not exist.",
            cl,
            first,
            '{"op":"hello","v":0,"name":"Ana"}',
        ),
        _ctl_bad(
            "hello_token_empty",
            "A token, when given, is 1 to 2048 characters.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","token":""}',
        ),
        _ctl_ok(
            "hello_maximal",
            "Every field at its limit (32 and 256 four-byte code points, a 2048-character "
            "token): 3,253 bytes, within the 4096 bytes a hello may always take.",
            cl,
            first,
            _enc(
                c.Hello(
                    v=1,
                    name=name32,
                    token="eyJ" + "A" * (c.TOKEN_MAX - 3),
                    resume="\U0001d4d0" * c.RESUME_MAX,
                )
            ),
        ),
        _ctl_bad(
            "hello_token_too_long",
            "One character over the 2048 limit.",
            cl,
            first,
            _enc(c.Hello(v=1, name="Ana", token="t" * (c.TOKEN_MAX + 1))),
        ),
        _ctl_bad(
            "hello_token_not_ascii",
            "A token is printable ASCII (U+0021..U+007E), as a JWT is.",
            cl,
            first,
            '{"op":"hello","v":1,"name":"Ana","token":"caf\u00e9"}',
        ),
        _ctl_bad(
            "hello_v_int32_max",
            "2^31 - 1 is a valid v, but not a supported version.",
            cl,
            first,
            '{"op":"hello","v":2147483647,"name":"Ana"}',
        ),
        _ctl_bad(
            "hello_v_2_31",
            "2^31 is outside the range of v (a signed 32-bit integer): a bad hello.",
            cl,
            first,
            '{"op":"hello","v":2147483648,"name":"Ana"}',
        ),
        _ctl_bad_bytes(
            "first_invalid_utf8",
            "A first text message that is not valid UTF-8: a bad hello (never close 1007).",
            first,
            b'{"op":"hello","v":1,"name":"\xff\xfe"}',
        ),
        _ctl_bad(
            "hello_resume_too_long",
            "A resume token is at most 256 characters.",
            cl,
            first,
            _enc(c.Hello(v=1, name="Ana", resume="r" * 257)),
        ),
        _ctl_bad(
            "first_not_hello",
            "The first message must be a hello.",
            cl,
            first,
            '{"op":"ping","id":1}',
        ),
        _ctl_bad("first_no_op", "A first message without op.", cl, first, '{"v":1,"name":"Ana"}'),
        _ctl_bad("first_not_json", "The first message is not JSON.", cl, first, "hello"),
        _ctl_bad(
            "first_array",
            "The first message is JSON but not an object.",
            cl,
            first,
            '[{"op":"hello","v":1,"name":"Ana"}]',
        ),
        # --- later client messages ---
        _ctl_ok(
            "ping",
            "Application ping with the client's clock reading.",
            cl,
            session,
            _enc(c.Ping(id=1, t=1234.5)),
        ),
        _ctl_ok("ping_without_t", "t is optional.", cl, session, _enc(c.Ping(id=2))),
        _ctl_ok("ping_max_id", "The largest id, 2^53.", cl, session, _enc(c.Ping(id=2**53))),
        _ctl_bad("ping_negative_id", "id is 0 to 2^53.", cl, session, '{"op":"ping","id":-1}'),
        _ctl_bad("ping_float_id", "id must be an integer.", cl, session, '{"op":"ping","id":1.5}'),
        _ctl_bad(
            "ping_t_string", "t must be a number.", cl, session, '{"op":"ping","id":3,"t":"now"}'
        ),
        _ctl_ok(
            "chat",
            "Chat to everyone who can see you.",
            cl,
            session,
            _enc(c.Chat(text="hello, Los Santos")),
        ),
        _ctl_ok(
            "chat_max_length",
            "256 code points is the limit.",
            cl,
            session,
            _enc(c.Chat(text="x" * c.TEXT_MAX)),
        ),
        _ctl_bad(
            "chat_too_long",
            "257 code points.",
            cl,
            session,
            _enc(c.Chat(text="x" * (c.TEXT_MAX + 1))),
        ),
        _ctl_bad("chat_empty", "Empty text.", cl, session, '{"op":"chat","text":""}'),
        _ctl_bad(
            "chat_newline",
            "Control characters are not allowed in text.",
            cl,
            session,
            '{"op":"chat","text":"line1\\nline2"}',
        ),
        _ctl_ok(
            "talk",
            "Speak to NPC net_id 1000.",
            cl,
            session,
            _enc(c.Talk(npc=1000, text="Where is the bank?")),
        ),
        _ctl_bad(
            "talk_npc_out_of_range",
            "npc is a u16 net id.",
            cl,
            session,
            '{"op":"talk","npc":65536,"text":"hi"}',
        ),
        _ctl_ok("leave", "Quit for good.", cl, session, _enc(c.Leave())),
        _ctl_ok(
            "custom",
            "A game mode's message: namespaced type, JSON object data.",
            cl,
            session,
            _enc(c.Custom(type="taxi.start", data={})),
        ),
        _ctl_ok(
            "custom_nested_data",
            "data is any JSON object; its fields are the game mode's to check.",
            cl,
            session,
            _enc(c.Custom(type="bank_job.plan.v2", data={"crew": [1, 2], "note": {"a": None}})),
        ),
        _ctl_ok(
            "custom_data_omitted",
            "data may be left out: it means {} (not canonical: the encoder writes it).",
            cl,
            session,
            '{"op":"custom","type":"taxi.cancel"}',
        ),
        _ctl_ok(
            "custom_type_max_length",
            "64 characters is the longest type.",
            cl,
            session,
            _enc(c.Custom(type="a" * 31 + "." + "b" * 32, data={})),
        ),
        _ctl_bad(
            "custom_type_too_long",
            "65 characters: BAD_FIELD.",
            cl,
            session,
            '{"op":"custom","type":"' + "a" * 32 + "." + "b" * 32 + '","data":{}}',
        ),
        _ctl_bad(
            "custom_type_without_namespace",
            "A type needs at least two dot-separated parts.",
            cl,
            session,
            '{"op":"custom","type":"start","data":{}}',
        ),
        _ctl_bad(
            "custom_type_uppercase",
            "Only [a-z0-9_] in each part.",
            cl,
            session,
            '{"op":"custom","type":"Taxi.Start","data":{}}',
        ),
        _ctl_bad(
            "custom_type_empty_part",
            "No empty part (no leading, trailing or double dot).",
            cl,
            session,
            '{"op":"custom","type":"taxi..start","data":{}}',
        ),
        _ctl_bad(
            "custom_type_missing",
            "type is required.",
            cl,
            session,
            '{"op":"custom","data":{}}',
        ),
        _ctl_bad(
            "custom_data_not_object",
            "data must be a JSON object, not an array or a scalar.",
            cl,
            session,
            '{"op":"custom","type":"taxi.start","data":[1,2]}',
        ),
        _ctl_ok(
            "who",
            "Ask who NPC 1000 and player 1002 are.",
            cl,
            session,
            _enc(c.Who(ids=[1000, 1002])),
        ),
        _ctl_ok(
            "who_max",
            "64 ids, the most one request may name; repeats are allowed.",
            cl,
            session,
            _enc(c.Who(ids=[i % 8 for i in range(64)])),
        ),
        _ctl_bad("who_empty", "At least one id.", cl, session, '{"op":"who","ids":[]}'),
        _ctl_bad(
            "who_too_many",
            "More than 64 ids.",
            cl,
            session,
            '{"op":"who","ids":[' + ",".join(["1"] * 65) + "]}",
        ),
        _ctl_bad(
            "who_id_out_of_range",
            "Ids are u16 net ids.",
            cl,
            session,
            '{"op":"who","ids":[1,65536]}',
        ),
        _ctl_bad(
            "who_id_not_integer",
            "Ids are integers (not floats, strings or booleans).",
            cl,
            session,
            '{"op":"who","ids":[1.0,true]}',
        ),
        _ctl_bad("who_not_a_list", "ids is a list.", cl, session, '{"op":"who","ids":7}'),
        # --- factions and companions (SPEC §4.2 faction / companion) ---
        _ctl_ok(
            "faction_create",
            "Create a faction (needs create:faction) with a display name.",
            cl,
            session,
            _enc(c.Faction(action="create", name="grove", display_name="Grove Street")),
        ),
        _ctl_ok("faction_join", "Join a faction.", cl, session, _enc(c.Faction("join", "grove"))),
        _ctl_ok("faction_leave", "Leave your faction.", cl, session, _enc(c.Faction("leave"))),
        _ctl_ok(
            "faction_promote",
            "Promote a member, named by player id.",
            cl,
            session,
            _enc(c.Faction(action="promote", player="6f1c2b9e-3d4a-4c8e-9b1a-0c2d3e4f5a6b")),
        ),
        _ctl_ok(
            "faction_kick",
            "Kick a member, named by player id.",
            cl,
            session,
            _enc(c.Faction(action="kick", player="p-2")),
        ),
        _ctl_ok("faction_info_own", "Your own faction.", cl, session, _enc(c.Faction("info"))),
        _ctl_ok(
            "faction_info_null_fields",
            "Another faction; null optional fields are the same as absent ones.",
            cl,
            session,
            '{"op":"faction","action":"info","name":"ballas","player":null,"display_name":null}',
        ),
        _ctl_bad(
            "faction_unknown_action",
            "action is one of create, join, leave, promote, kick, info.",
            cl,
            session,
            '{"op":"faction","action":"disband","name":"grove"}',
        ),
        _ctl_bad(
            "faction_create_without_name",
            "create names the faction.",
            cl,
            session,
            '{"op":"faction","action":"create"}',
        ),
        _ctl_bad(
            "faction_name_not_a_slug",
            "A faction name is 2-40 characters of a-z, 0-9 and _.",
            cl,
            session,
            '{"op":"faction","action":"join","name":"Grove Street"}',
        ),
        _ctl_bad(
            "faction_kick_without_player",
            "kick and promote name the member.",
            cl,
            session,
            '{"op":"faction","action":"kick"}',
        ),
        _ctl_ok(
            "companion_summon_new",
            "Summon a new companion, named and of a kind.",
            cl,
            session,
            _enc(c.Companion(action="summon", name="Chop", kind="dog")),
        ),
        _ctl_ok(
            "companion_summon_first",
            "Summon your first companion (created if you have none).",
            cl,
            session,
            _enc(c.Companion("summon")),
        ),
        _ctl_ok(
            "companion_dismiss",
            "Send a companion home, by id.",
            cl,
            session,
            _enc(c.Companion(action="dismiss", id="c0a8e2f4-1b2c-4d5e-8f90-a1b2c3d4e5f6")),
        ),
        _ctl_ok("companion_recall", "Bring it back.", cl, session, _enc(c.Companion("recall"))),
        _ctl_ok("companion_info", "List your companions.", cl, session, _enc(c.Companion("info"))),
        _ctl_bad(
            "companion_unknown_kind",
            "kind is one of dog, bodyguard, driver, hacker, medic, friend.",
            cl,
            session,
            '{"op":"companion","action":"summon","kind":"cat"}',
        ),
        _ctl_bad(
            "companion_unknown_action",
            "action is one of summon, dismiss, recall, info.",
            cl,
            session,
            '{"op":"companion","action":"feed"}',
        ),
        _ctl_bad(
            "companion_empty_name",
            "A name is 1-32 code points.",
            cl,
            session,
            '{"op":"companion","action":"summon","name":""}',
        ),
        # --- missions (SPEC §4.2 mission) ---
        _ctl_ok(
            "mission_request",
            "Ask NPC 1000 for work, hinting at the kind of job.",
            cl,
            session,
            _enc(c.Mission(action="request", npc=1000, theme="a delivery")),
        ),
        _ctl_ok(
            "mission_request_without_theme",
            "The theme is optional.",
            cl,
            session,
            _enc(c.Mission(action="request", npc=1000)),
        ),
        _ctl_ok(
            "mission_accept",
            "Accept an offered mission by its id.",
            cl,
            session,
            _enc(c.Mission(action="accept", id=MISSION_ID)),
        ),
        _ctl_ok(
            "mission_complete",
            "Claim a completion; the server checks the objectives itself.",
            cl,
            session,
            _enc(c.Mission(action="complete", id=MISSION_ID)),
        ),
        _ctl_ok(
            "mission_abandon",
            "Give a mission up (it fails).",
            cl,
            session,
            _enc(c.Mission(action="abandon", id=MISSION_ID)),
        ),
        _ctl_ok("mission_list", "List my recent missions.", cl, session, _enc(c.Mission("list"))),
        _ctl_bad(
            "mission_unknown_action",
            "action is one of request, accept, abandon, complete, list.",
            cl,
            session,
            '{"op":"mission","action":"steal"}',
        ),
        _ctl_bad(
            "mission_accept_without_id",
            "accept, abandon and complete name the mission.",
            cl,
            session,
            '{"op":"mission","action":"accept"}',
        ),
        _ctl_bad(
            "mission_request_without_npc",
            "A request names the NPC asked.",
            cl,
            session,
            '{"op":"mission","action":"request"}',
        ),
        _ctl_bad(
            "mission_theme_too_long",
            "81 code points of theme.",
            cl,
            session,
            '{"op":"mission","action":"request","npc":1000,"theme":"' + "x" * 81 + '"}',
        ),
        _ctl_bad(
            "mission_id_too_long",
            "A mission id is at most 64 code points.",
            cl,
            session,
            '{"op":"mission","action":"complete","id":"' + "x" * 65 + '"}',
        ),
        _ctl_ok(
            "second_hello",
            "A well-formed hello after the welcome decodes; the server answers "
            "error ALREADY_WELCOMED and keeps the connection.",
            cl,
            session,
            _enc(c.Hello(v=1, name="Ana")),
        ),
        _ctl_bad(
            "second_hello_malformed",
            "A malformed hello after the welcome is ALREADY_WELCOMED too, never a close.",
            cl,
            session,
            '{"op":"hello","v":9}',
        ),
        _ctl_bad(
            "unknown_op",
            "An op the server does not know.",
            cl,
            session,
            '{"op":"dance","style":"salsa"}',
        ),
        _ctl_bad("missing_op", "No op at all.", cl, session, '{"text":"hi"}'),
        _ctl_bad("op_not_string", "op must be a string.", cl, session, '{"op":1}'),
        _ctl_bad("not_json", "Truncated JSON.", cl, session, '{"op":"ping","id":'),
        _ctl_bad("json_array", "JSON, but not an object.", cl, session, "[1,2,3]"),
        _ctl_bad_bytes(
            "invalid_utf8",
            "A text message that is not valid UTF-8 is invalid JSON (never close 1007).",
            session,
            b'{"op":"chat","text":"\xc3\x28"}',
        ),
        _ctl_ok(
            "duplicate_keys_last_wins",
            "Keys must be unique; a server given duplicates uses the last one: a ping with id 2.",
            cl,
            session,
            '{"op":"ping","id":1,"id":2}',
        ),
        _ctl_ok(
            "duplicate_op_last_wins",
            "The same rule for op: this is a ping.",
            cl,
            session,
            '{"op":"dance","id":3,"op":"ping"}',
        ),
        _ctl_bad("json_nan", "NaN is not JSON.", cl, session, '{"op":"ping","id":1,"t":NaN}'),
        _ctl_bad(
            "json_overflow",
            "1e999 overflows a double: rejected as invalid JSON, not as NON_FINITE.",
            cl,
            session,
            '{"op":"ping","id":1,"t":1e999}',
        ),
        # --- server messages ---
        _ctl_ok("welcome", "The answer to a fresh hello.", sv, session, welcome_json),
        _ctl_ok(
            "welcome_spectator",
            "The answer to a spectator's hello: `spectator` true, `net_id` names the camera "
            "(no entity), no resume token and a resume window of 0.",
            sv,
            session,
            _enc(
                replace(
                    welcome,
                    player_id="spectator:6f1c2b9e-3d4a-4c8e-9b7a-2e5f0a1d3c4b:40",
                    net_id=40,
                    name="dashboard",
                    resume_token="",
                    resume_window=0.0,
                    guest=False,
                    spectator=True,
                )
            ),
        ),
        _ctl_ok(
            "welcome_unknown_fields",
            "A newer server adds fields; clients ignore them (including one named OP).",
            sv,
            session,
            welcome_json[:-1] + ',"weather":"rain","OP":"x"}',
        ),
        _ctl_ok(
            "welcome_guest",
            "The answer to a guest's hello (no token): `guest` is true. A welcome without "
            "`guest` (the one above) is from a server older than accounts.",
            sv,
            session,
            _enc(replace(welcome, guest=True)),
        ),
        _ctl_ok(
            "welcome_account",
            "The answer to a hello with an account's token: `guest` is false.",
            sv,
            session,
            _enc(replace(welcome, guest=False)),
        ),
        _ctl_bad(
            "welcome_missing_field",
            "A welcome without resume_token cannot be used.",
            sv,
            session,
            _enc(welcome).replace('"resume_token":"r1.6f1c2b9e3d4a4c8e.k8Jv2Q",', ""),
        ),
        _ctl_ok(
            "pong",
            "Answer to ping id 1, echoing t.",
            sv,
            session,
            _enc(c.Pong(id=1, t=1234.5, server_time=T0 + 17.0)),
        ),
        _ctl_ok(
            "pong_without_t",
            "Answer to a ping that had no t.",
            sv,
            session,
            _enc(c.Pong(id=2, server_time=T0 + 17.5)),
        ),
        _ctl_ok(
            "error_with_ref",
            "Input seq 57 moved too fast; a correct follows.",
            sv,
            session,
            _enc(c.error(ErrorCode.IMPOSSIBLE_MOVE, "moved 130 m in 0.1 s", ref=57)),
        ),
        _ctl_ok(
            "error_without_ref",
            "A chat message with an empty text.",
            sv,
            session,
            _enc(c.error(ErrorCode.BAD_FIELD, "'text' must be a string of 1 to 256 characters")),
        ),
        _ctl_ok(
            "correct",
            "Snap to this position; it answers input seq 57.",
            sv,
            session,
            _enc(c.Correct(x=12.5, y=-40.25, z=30.0, heading=90.0, ref=57)),
        ),
        _ctl_ok(
            "reconnect",
            "Graceful drain: wait 1.5 s, then hello with the token.",
            sv,
            session,
            _enc(
                c.Reconnect(
                    resume_token="r1.6f1c2b9e3d4a4c8e.Zx81",
                    after_ms=1500,
                    resume_window=60.0,
                    reason="shutdown",
                )
            ),
        ),
        _ctl_ok(
            "chat_broadcast",
            "Chat from player net_id 2.",
            sv,
            session,
            _enc(c.ChatMessage(from_id=2, name="Bob", text="hi Ana")),
        ),
        _ctl_ok(
            "npc_say",
            "NPC 1000 answers player net_id 1.",
            sv,
            session,
            _enc(c.NpcSay(npc=1000, to=1, text="Two blocks north, on Vinewood.")),
        ),
        # --- a streamed NPC reply (SPEC §4.3 npc_say_part): parts, then the whole line ---
        _ctl_ok(
            "npc_say_part_first",
            "First streamed piece of NPC 1000's reply 7 to player net_id 1.",
            sv,
            session,
            _enc(c.NpcSayPart(npc=1000, to=1, reply_id=7, seq=1, text="Two blocks north.")),
        ),
        _ctl_ok(
            "npc_say_part_next",
            "Second piece: appended as is (it starts with the space between sentences).",
            sv,
            session,
            _enc(c.NpcSayPart(npc=1000, to=1, reply_id=7, seq=2, text=" On Vinewood.")),
        ),
        _ctl_ok(
            "npc_say_streamed_final",
            "The whole reply 7, ending the stream: its text is what the parts said.",
            sv,
            session,
            _enc(c.NpcSay(npc=1000, to=1, text="Two blocks north. On Vinewood.", reply_id=7)),
        ),
        _ctl_ok(
            "npc_say_replaced",
            "The whole reply 8 replaces what its parts said (the model failed mid-line).",
            sv,
            session,
            _enc(c.NpcSay(npc=1000, to=1, text="I saw nothing.", reply_id=8, replaced=True)),
        ),
        _ctl_ok(
            "npc_say_with_actions",
            "Reply 9 carries an action the server checked and applied (SPEC §4.3 NPC actions).",
            sv,
            session,
            _enc(
                c.NpcSay(
                    npc=1000,
                    to=1,
                    text="Alright, lead the way.",
                    reply_id=9,
                    actions=["follow_player"],
                )
            ),
        ),
        # --- game events and custom (game mode) messages ---
        _ctl_ok(
            "event_money",
            "The player's money changed: new balance, change and reason.",
            sv,
            session,
            _enc(
                c.GameEvent(type="money", data={"money": 1250, "delta": 250, "reason": "taxi fare"})
            ),
        ),
        _ctl_ok(
            "event_faction_relation",
            "Two factions' relationship crossed the war threshold (to members of both).",
            sv,
            session,
            _enc(
                c.GameEvent(
                    type="faction.relation",
                    data={
                        "faction_a": "ballas",
                        "faction_b": "grove",
                        "strength": -62,
                        "previous_strength": -54,
                        "stance": "war",
                        "previous_stance": "hostile",
                        "reason": "member_killed",
                    },
                )
            ),
        ),
        _ctl_ok(
            "event_companion",
            "The player's companion was summoned: it is NPC 1204 now.",
            sv,
            session,
            _enc(
                c.GameEvent(
                    type="companion",
                    data={
                        "id": "c0a8e2f4-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                        "change": "summoned",
                        "name": "Chop",
                        "kind": "dog",
                        "net_id": 1204,
                        "loyalty": 50,
                        "experience": 0,
                    },
                )
            ),
        ),
        _ctl_ok(
            "event_mission_offered",
            "NPC 1000 offers a mission: the whole mission, status offered.",
            sv,
            session,
            _enc(c.GameEvent(type="mission", data=MISSION_OFFERED)),
        ),
        _ctl_ok(
            "event_mission_offered_escort",
            "A mission naming an NPC (bring_npc; talk_to_npc alike): `npc_id` and `npc_name`.",
            sv,
            session,
            _enc(c.GameEvent(type="mission", data=MISSION_ESCORT)),
        ),
        _ctl_ok(
            "event_mission_progress",
            "An accepted mission's objectives advanced (checked by the server).",
            sv,
            session,
            _enc(
                c.GameEvent(
                    type="mission.progress",
                    data={
                        "id": MISSION_ID,
                        "objectives": [{"progress": 0.45, "done": False}],
                        "complete": False,
                    },
                )
            ),
        ),
        _ctl_ok(
            "event_mission_completed",
            "Completed once: paid, with the relationships it moved.",
            sv,
            session,
            _enc(c.GameEvent(type="mission", data=MISSION_COMPLETED)),
        ),
        _ctl_ok(
            "error_mission_refused",
            "A mission request refused: the message starts with the reason.",
            sv,
            session,
            _enc(c.error(ErrorCode.MISSION_REFUSED, "incomplete: the objectives are not done yet")),
        ),
        _ctl_ok(
            "server_custom",
            "A game mode's message to this client (the taxi mode's fare offer).",
            sv,
            session,
            _enc(c.CustomMessage(type="taxi.fare", data={"npc": 17, "x": 12.5, "y": -40.25})),
        ),
        _ctl_ok(
            "server_custom_unknown_field",
            "Unknown fields of a custom message are ignored like any other's.",
            sv,
            session,
            '{"op":"custom","type":"taxi.paid","data":{"fare":250},"x_extra":1}',
        ),
        _ctl_ok(
            "who_reply",
            "Answer to a who for ids 1000, 1002 and 4242: 4242 is not in view, so it is left out.",
            sv,
            session,
            _enc(
                c.WhoReply(
                    entities=[
                        {
                            "id": 1000,
                            "kind": "npc",
                            "name": "Carl Diaz",
                            "role": "cop",
                            "faction": "lspd",
                        },
                        {"id": 1002, "kind": "player", "name": "Bob"},
                    ]
                )
            ),
        ),
        _ctl_bad(
            "server_unknown_op",
            "An op this client does not know: clients ignore the message (the reference "
            "decoder reports UNKNOWN_OP so the caller can count and skip it).",
            sv,
            session,
            '{"op":"weather","sky":"rain"}',
        ),
    ]


# --- quantisation ------------------------------------------------------------------------


def _pos_case(name: str, description: str, b: WorldBounds, x: float, y: float, z: float) -> Json:
    qx, qy, qz = quantise_position(b, x, y, z)
    dx, dy, dz = dequantise_position(b, qx, qy, qz)
    return {
        "name": "position_" + name,
        "description": description,
        "kind": "position",
        "bounds": b.as_dict(),
        "input": {"x": x, "y": y, "z": z},
        "hex": struct.pack("<3H", qx, qy, qz).hex(),
        "decoded": {"qx": qx, "qy": qy, "qz": qz},
        "dequantised": {"x": dx, "y": dy, "z": dz},
    }


def _heading_case(name: str, description: str, deg: float) -> Json:
    q = quantise_heading(deg)
    return {
        "name": "heading_" + name,
        "description": description,
        "kind": "heading",
        "input": {"degrees": deg},
        "hex": bytes([q]).hex(),
        "decoded": {"q": q},
        "dequantised": {"degrees": dequantise_heading(q)},
    }


def _speed_case(name: str, description: str, mps: float) -> Json:
    q = speed_to_wire(mps)
    return {
        "name": "speed_" + name,
        "description": description,
        "kind": "speed",
        "input": {"mps": mps},
        "hex": bytes([q]).hex(),
        "decoded": {"q": q},
        "dequantised": {"mps": speed_from_wire(q)},
    }


def quant_cases() -> list[Json]:
    small = WorldBounds(0.0, 0.0, 0.0, 655.35, 655.35, 65.535)
    return [
        _pos_case(
            "origin",
            "World origin; exactly half-way on x and y rounds half to even.",
            WORLD,
            0.0,
            0.0,
            0.0,
        ),
        _pos_case(
            "min_corner", "The minimum corner quantises to 0.", WORLD, -4000.0, -4000.0, -200.0
        ),
        _pos_case(
            "max_corner", "The maximum corner quantises to 65535.", WORLD, 4000.0, 4000.0, 1800.0
        ),
        _pos_case(
            "clamped", "Outside the bounds clamps to the edge.", WORLD, -5000.0, 4500.0, 99999.0
        ),
        _pos_case("typical", "An arbitrary point.", WORLD, 123.456, -789.012, 45.6),
        _pos_case(
            "player_example", "The position used by the STATE examples.", WORLD, 12.5, -40.25, 30.0
        ),
        _pos_case(
            "small_world",
            "Bounds 0..655.35 m: steps of 1 cm on x and y.",
            small,
            1.234,
            600.0,
            10.0,
        ),
        _heading_case("north", "0 degrees (+y).", 0.0),
        _heading_case("west", "90 degrees: GTA headings turn counter-clockwise.", 90.0),
        _heading_case("east", "270 degrees.", 270.0),
        _heading_case("negative", "-90 is 270.", -90.0),
        _heading_case("wraps_to_zero", "359.5 rounds to 256, which wraps to 0.", 359.5),
        _heading_case("many_turns", "720.7 degrees is 0.7, which rounds to 0.", 720.7),
        _heading_case(
            "half_step_even_down", "0.703125 = 0.5 steps: half to even gives 0.", 0.703125
        ),
        _heading_case("half_step_even_up", "2.109375 = 1.5 steps: half to even gives 2.", 2.109375),
        _speed_case("walk", "2 m/s, the default NPC speed.", 2.0),
        _speed_case("rounds", "2.04 m/s rounds to 20 (2.0 m/s).", 2.04),
        _speed_case("max", "25.5 m/s is the largest speed.", 25.5),
        _speed_case("clamped", "Faster than 25.5 m/s clamps to 255.", 30.0),
        _speed_case("negative", "Negative speeds are 0.", -1.0),
        _speed_case("half_even", "0.05 m/s is 0.5 tenths: half to even gives 0.", 0.05),
    ]


# --- NPC paths ---------------------------------------------------------------------------


def _arrival_tick(p: NpcPath, tick_rate: int, b: WorldBounds) -> int | None:
    """First integer tick at which the NPC stands exactly on its waypoint."""
    wx, wy, _ = dequantise_position(b, p.wx, p.wy, 0)
    if p.speed == 0:
        return None
    t = p.start_tick
    step = 1 << 20
    while step:  # exponential search then bisection; position_at is monotone in tick
        while p.position_at(t + step, tick_rate, b)[:2] != (wx, wy):
            t += step
        step >>= 1
    if p.position_at(t, tick_rate, b)[:2] != (wx, wy):
        t += 1
    return t


def _path_case(name: str, description: str, p: NpcPath, extra: list[float]) -> Json:
    b = WORLD
    arrival = _arrival_tick(p, TICK_RATE, b)
    ticks = [p.start_tick - 10.0, float(p.start_tick), p.start_tick + 1.0, p.start_tick + 30.5]
    ticks += extra
    if arrival is not None:
        ticks += [arrival - 1.0, float(arrival), arrival + 1000.0]
    samples = []
    for t in ticks:
        x, y, z = p.position_at(t, TICK_RATE, b)
        samples.append({"tick": t, "x": x, "y": y, "z": z})
    sx, sy, sz = dequantise_position(b, p.qx, p.qy, p.qz)
    wx, wy, _ = dequantise_position(b, p.wx, p.wy, 0)
    return {
        "name": name,
        "description": description,
        "bounds": b.as_dict(),
        "tick_rate": TICK_RATE,
        "hex": PATH_BODY.pack(p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick).hex(),
        "decoded": path_to_json(p),
        "start": {"x": sx, "y": sy, "z": sz},
        "waypoint": {"x": wx, "y": wy},
        "heading": p.heading(b),
        "arrival_tick": arrival,
        "samples": samples,
    }


def path_cases() -> list[Json]:
    return [
        _path_case(
            "diagonal",
            "A 2 m/s walk a little north of east; samples before the start, at it, mid-way, around "
            "arrival and long after.",
            _path(-100.0, 200.0, 0.0, 150.0, 220.0, 2.0, 900),
            [2000.0, 5000.0],
        ),
        _path_case(
            "east",
            "Due east (+x): heading 270.",
            _path(0.0, 0.0, 12.0, 100.0, 0.0, 2.0, 0),
            [600.0],
        ),
        _path_case(
            "west", "Due west (-x): heading 90.", _path(0.0, 0.0, 0.0, -100.0, 0.0, 2.0, 0), [600.0]
        ),
        _path_case(
            "north", "Due north (+y): heading 0.", _path(0.0, 0.0, 0.0, 0.0, 50.0, 2.0, 0), []
        ),
        _path_case(
            "south", "Due south (-y): heading 180.", _path(0.0, 0.0, 0.0, 0.0, -50.0, 2.0, 0), []
        ),
        _path_case(
            "zero_length",
            "Waypoint equals start: the NPC stands still; heading 0.",
            _path(10.0, 10.0, 0.0, 10.0, 10.0, 2.0, 100),
            [500.0],
        ),
        _path_case(
            "speed_zero",
            "Speed 0: the NPC stands at its start forever (no arrival), facing its waypoint "
            "(heading 270, east): how the server shows an NPC stopped facing someone.",
            _path(10.0, 10.0, 0.0, 90.0, 10.0, 0.0, 100),
            [100000.0],
        ),
        _path_case(
            "fast_long",
            "25.5 m/s across the spawn area, with a start_tick past 2^31.",
            _path(-1000.0, -1000.0, 5.0, 1000.0, 900.0, 25.5, 3_000_000_000),
            [3_000_001_000.0],
        ),
    ]


# --- output ------------------------------------------------------------------------------


def build() -> dict[str, list[Json]]:
    return {
        "state_frames.json": state_cases(),
        "input_frames.json": input_cases(),
        "control_messages.json": control_cases(),
        "quantisation.json": quant_cases(),
        "npc_paths.json": path_cases(),
    }


def render(cases: list[Json]) -> str:
    return json.dumps(cases, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on difference")
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write to")
    args = ap.parse_args(argv)
    stale = []
    for fname, cases in build().items():
        text = render(cases)
        path: Path = args.out / fname
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(fname)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({len(cases)} cases)")
    if stale:
        print("stale vectors: " + ", ".join(stale) + "; run python -m protocol.vectors.generate")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
