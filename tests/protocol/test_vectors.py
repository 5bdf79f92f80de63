"""The committed vectors: up to date, decoded as documented, re-encoded to the same bytes.

`_reference_state` is a second STATE decoder written from SPEC.md's byte tables with plain
`struct` and no protocol code, so the vectors (and through them the codecs) are checked against
the spec's layout, not only against themselves.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from protocol import control as c
from protocol.catalogue import CloseCode, ErrorCode, ProtocolError
from protocol.quant import (
    WorldBounds,
    dequantise_heading,
    dequantise_position,
    quantise_heading,
    quantise_position,
    speed_from_wire,
    speed_to_wire,
)
from protocol.state import decode_input, decode_state, encode_input, encode_state
from protocol.vectors import generate as g

VECTORS = Path(g.__file__).parent
FILES = [
    "state_frames.json",
    "input_frames.json",
    "control_messages.json",
    "quantisation.json",
    "npc_paths.json",
]


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return cases


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def _expect(case: dict[str, Any], fn: Any, data: Any) -> None:
    with pytest.raises(ProtocolError) as ei:
        fn(data)
    e = ei.value
    if "error" in case:
        assert e.error is not None and e.error.name == case["error"]
        assert int(e.error) == case["error_code"] == ErrorCode[case["error"]]
    else:
        assert e.close is not None and e.close.name == case["close"]
        assert int(e.close) == case["close_code"] == CloseCode[case["close"]]


@pytest.mark.parametrize("name", FILES)
def test_committed_vectors_are_current(name: str) -> None:
    built = g.build()
    assert set(built) == set(FILES)
    assert (VECTORS / name).read_text(encoding="utf-8") == g.render(built[name]), (
        "stale: run python -m protocol.vectors.generate"
    )


@pytest.mark.parametrize("name", FILES)
def test_case_shape(name: str) -> None:
    cases = _load(name)
    names = _ids(cases)
    assert len(names) == len(set(names)), "duplicate case names"
    for case in cases:
        assert case["name"] and case["description"]
        outcomes = [k for k in ("decoded", "error", "close") if k in case]
        assert len(outcomes) == 1, case["name"]


def test_required_edge_cases_present() -> None:
    state = {k["name"]: k for k in _load("state_frames.json")}
    for n in (
        "empty_delta",
        "full_snapshot",
        "leave_only",
        "unknown_enter_kind_skipped",
        "max_length_name_utf8",
    ):
        assert "decoded" in state[n]
    assert sum("error" in k for k in state.values()) >= 10
    inputs = {k["name"]: k for k in _load("input_frames.json")}
    assert inputs["nan_x"]["error"] == "NON_FINITE"
    ctl = _load("control_messages.json")
    assert {k.get("close") for k in ctl} >= {"BAD_HELLO", "UNSUPPORTED_VERSION"}


# --- STATE ------------------------------------------------------------------------------

STATE = _load("state_frames.json")


def _reference_state(data: bytes) -> dict[str, Any]:
    """STATE decoder from SPEC.md's tables alone (raises ValueError on any inconsistency)."""

    def need(off: int, n: int) -> None:
        if off + n > len(data):
            raise ValueError("truncated")

    need(0, 18)
    if data[0] != 0x01:
        raise ValueError("type")
    flags, seq, tick, t = struct.unpack_from("<BIId", data, 1)
    off = 18
    need(off, 2)
    (n,) = struct.unpack_from("<H", data, off)
    off += 2
    need(off, 2 * n)
    leaves = list(struct.unpack_from(f"<{n}H", data, off))
    off += 2 * n
    need(off, 2)
    (n,) = struct.unpack_from("<H", data, off)
    off += 2
    enters: list[dict[str, Any]] = []
    for _ in range(n):
        need(off, 4)
        nid, kind, blen = struct.unpack_from("<HBB", data, off)
        off += 4
        need(off, blen)
        body = data[off : off + blen]
        off += blen
        if kind == 1:
            if blen < 9:
                raise ValueError("player body")
            qx, qy, qz, h, hp, nlen = struct.unpack_from("<3HBBB", body)
            if 9 + nlen > blen:
                raise ValueError("name")
            enters.append(
                {
                    "id": nid,
                    "kind": 1,
                    "qx": qx,
                    "qy": qy,
                    "qz": qz,
                    "heading": h,
                    "health": hp,
                    "name": body[9 : 9 + nlen].decode("utf-8", "replace"),
                }
            )
        elif kind == 2:
            if blen < 17:
                raise ValueError("npc body")
            model = struct.unpack_from("<H", body)[0]
            enters.append({"id": nid, "kind": 2, "model": model, "path": _ref_path(body, 2)})
        else:
            enters.append({"id": nid, "kind": kind, "body": body.hex()})
    need(off, 2)
    (n,) = struct.unpack_from("<H", data, off)
    off += 2
    paths = []
    for _ in range(n):
        need(off, 17)
        paths.append(
            {"id": struct.unpack_from("<H", data, off)[0], "path": _ref_path(data, off + 2)}
        )
        off += 17
    if (len(data) - off) % 9:
        raise ValueError("moves")
    moves = []
    while off < len(data):
        nid, qx, qy, qz, h = struct.unpack_from("<4HB", data, off)
        moves.append({"id": nid, "qx": qx, "qy": qy, "qz": qz, "heading": h})
        off += 9
    return {
        "flags": flags,
        "full": bool(flags & 1),
        "seq": seq,
        "tick": tick,
        "server_time": t,
        "leaves": leaves,
        "enters": enters,
        "paths": paths,
        "moves": moves,
    }


def _ref_path(buf: bytes, off: int) -> dict[str, int]:
    qx, qy, qz, wx, wy, sp, st = struct.unpack_from("<5HBI", buf, off)
    return {"qx": qx, "qy": qy, "qz": qz, "wx": wx, "wy": wy, "speed": sp, "start_tick": st}


@pytest.mark.parametrize("case", STATE, ids=_ids(STATE))
def test_state_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    if "decoded" not in case:
        _expect(case, decode_state, data)
        with pytest.raises(ValueError):
            _reference_state(data)
        return
    assert case["size"] == len(data)
    frame = decode_state(data)
    assert g.state_to_json(frame) == case["decoded"]
    assert _reference_state(data) == case["decoded"]
    assert (encode_state(g.state_from_json(case["decoded"])) == data) is case["canonical"]


# --- INPUT ------------------------------------------------------------------------------

INPUTS = _load("input_frames.json")


@pytest.mark.parametrize("case", INPUTS, ids=_ids(INPUTS))
def test_input_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    if "decoded" not in case:
        _expect(case, decode_input, data)
        return
    assert g.input_to_json(decode_input(data)) == case["decoded"]
    d = case["decoded"]
    assert len(data) == 25 and data[0] == 0x10
    assert struct.unpack("<II4f", data[1:]) == (
        d["seq"],
        d["ack"],
        d["x"],
        d["y"],
        d["z"],
        d["heading"],
    )
    assert (encode_input(g.input_from_json(d)) == data) is case["canonical"]


# --- control messages -------------------------------------------------------------------

CONTROL = _load("control_messages.json")


@pytest.mark.parametrize("case", CONTROL, ids=_ids(CONTROL))
def test_control_vector(case: dict[str, Any]) -> None:
    if case["sender"] == "server":
        decode: Any = c.decode_server
    elif case["context"] == "first":
        decode = c.decode_first
    else:
        decode = c.decode_client
    if "decoded" not in case:
        data = case["text"] if "text" in case else bytes.fromhex(case["hex"])
        _expect(case, decode, data)
        return
    msg = decode(case["text"])
    assert g.control_to_json(msg) == case["decoded"]
    encoded = c.encode(g.control_from_json(case["decoded"], case["sender"]))
    assert (encoded == case["text"].encode("utf-8")) is case["canonical"]
    # canonical = the decoded object without nulls, compact, in field order
    expect = {k: v for k, v in case["decoded"].items() if v is not None}
    assert json.loads(encoded) == expect
    assert list(json.loads(encoded)) == list(expect)


# --- quantisation -----------------------------------------------------------------------

QUANT = _load("quantisation.json")


@pytest.mark.parametrize("case", QUANT, ids=_ids(QUANT))
def test_quantisation_vector(case: dict[str, Any]) -> None:
    i, d, dq = case["input"], case["decoded"], case["dequantised"]
    raw = bytes.fromhex(case["hex"])
    if case["kind"] == "position":
        b = WorldBounds.from_dict(case["bounds"])
        q = quantise_position(b, i["x"], i["y"], i["z"])
        assert q == (d["qx"], d["qy"], d["qz"]) == struct.unpack("<3H", raw)
        assert dequantise_position(b, *q) == (dq["x"], dq["y"], dq["z"])
        # the formula as SPEC.md writes it, evaluated in the stated order
        assert dq["x"] == b.min_x + (d["qx"] * (b.max_x - b.min_x)) / 65535
    elif case["kind"] == "heading":
        assert quantise_heading(i["degrees"]) == d["q"] == raw[0]
        assert dequantise_heading(d["q"]) == dq["degrees"]
    else:
        assert speed_to_wire(i["mps"]) == d["q"] == raw[0]
        assert speed_from_wire(d["q"]) == dq["mps"]


# --- NPC paths --------------------------------------------------------------------------

PATHS = _load("npc_paths.json")


def _spec_position(p: dict[str, int], tick: float, rate: int, b: WorldBounds) -> tuple[float, ...]:
    """SPEC.md's NPC formula, step by step, without protocol.state."""
    rx, ry, rz = b.max_x - b.min_x, b.max_y - b.min_y, b.max_z - b.min_z
    sx = b.min_x + (p["qx"] * rx) / 65535
    sy = b.min_y + (p["qy"] * ry) / 65535
    sz = b.min_z + (p["qz"] * rz) / 65535
    ex = b.min_x + (p["wx"] * rx) / 65535
    ey = b.min_y + (p["wy"] * ry) / 65535
    dx = ex - sx
    dy = ey - sy
    dist = math.sqrt(dx * dx + dy * dy)
    if dist == 0 or p["speed"] == 0:
        return (sx, sy, sz)
    travelled = ((p["speed"] / 10) * max(0.0, tick - p["start_tick"])) / rate
    if travelled >= dist:
        return (ex, ey, sz)
    f = travelled / dist
    return (sx + dx * f, sy + dy * f, sz)


@pytest.mark.parametrize("case", PATHS, ids=_ids(PATHS))
def test_npc_path_vector(case: dict[str, Any]) -> None:
    b = WorldBounds.from_dict(case["bounds"])
    rate = case["tick_rate"]
    d = case["decoded"]
    path = g.path_from_json(d)
    assert struct.unpack("<5HBI", bytes.fromhex(case["hex"])) == tuple(d.values())
    assert abs(path.heading(b) - case["heading"]) < 1e-9
    for s in case["samples"]:
        want = (s["x"], s["y"], s["z"])
        assert path.position_at(s["tick"], rate, b) == want
        assert _spec_position(d, s["tick"], rate, b) == want
    arrival = case["arrival_tick"]
    wp = (case["waypoint"]["x"], case["waypoint"]["y"])
    if arrival is not None:
        assert path.position_at(arrival, rate, b)[:2] == wp
        if arrival > d["start_tick"]:
            assert path.position_at(arrival - 1, rate, b)[:2] != wp


def test_generator_runs_as_a_module() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "protocol.vectors.generate", "--check"],
        capture_output=True,
        text=True,
        cwd=VECTORS.parent.parent,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
