"""client_sdk.tools.npc_tracker: a load-test talker's lean view of the NPCs must know the
same NPCs, on the same paths, as the full protocol mirror fed the same frames."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.tools.npc_tracker import NpcTracker
from protocol.catalogue import EntityKind, StateFlag
from protocol.mirror import Mirror, Npc
from protocol.state import (
    HEADER,
    NPC_BODY,
    Enter,
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    UnknownEnter,
    encode_state,
)
from tests.client_sdk.test_mirror import welcome_text

NPC_IDS = st.integers(0, 30)  # NPCs (and players entering under an NPC's id) live here
PLAYER_IDS = st.integers(100, 110)  # MOVE records name these only: v1 sends none for NPCs
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
paths = st.builds(NpcPath, u16, u16, u16, u16, u16, u8, st.integers(0, 5000))


@st.composite
def enters(draw: st.DrawFn) -> Enter:
    kind = draw(st.sampled_from(["npc", "npc", "npc", "long_npc", "player", "other"]))
    if kind == "npc":
        return NpcEnter(draw(NPC_IDS), draw(u16), draw(paths))
    if kind == "long_npc":  # a newer server's longer NPC body: the extra bytes are ignored
        p = draw(paths)
        body = NPC_BODY.pack(draw(u16), p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick)
        return UnknownEnter(
            draw(NPC_IDS), EntityKind.NPC, body + draw(st.binary(min_size=1, max_size=6))
        )
    if kind == "player":
        nid = draw(st.one_of(NPC_IDS, PLAYER_IDS))
        return PlayerEnter(nid, draw(u16), draw(u16), draw(u16), draw(u8), draw(u8), "bot7")
    return UnknownEnter(
        draw(NPC_IDS), draw(st.integers(3, 9)), draw(st.binary(min_size=0, max_size=8))
    )


@dataclass
class Case:
    data: bytes  # the frame with bytes of other frames around it, as the fast path sees it
    start: int
    end: int
    now: float


@st.composite
def frames(draw: st.DrawFn) -> list[Case]:
    out: list[Case] = []
    tick, now = 1000, 100.0
    for seq in range(1, draw(st.integers(1, 25)) + 1):
        tick += draw(st.integers(0, 4))
        now += draw(st.floats(0.0, 0.2))
        full = draw(st.integers(0, 9)) == 0
        f = StateFrame(
            seq=seq,
            tick=tick,
            server_time=now,
            flags=StateFlag.FULL if full else StateFlag.NONE,
            leaves=[] if full else draw(st.lists(NPC_IDS, max_size=4)),
            enters=draw(st.lists(enters(), max_size=6 if full else 3)),
            paths=draw(st.lists(st.tuples(st.one_of(NPC_IDS, PLAYER_IDS), paths), max_size=3)),
            moves=[
                Move(i, x, y, z, h)
                for i, x, y, z, h in draw(
                    st.lists(st.tuples(PLAYER_IDS, u16, u16, u16, u8), max_size=12)
                )
            ],
        )
        raw = encode_state(f)
        damage = draw(st.sampled_from(["none"] * 12 + ["cut", "extra", "short_npc", "bad_name"]))
        if damage == "cut":  # truncated anywhere: in a section (refused) or between MOVEs
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        elif damage == "extra":
            raw += draw(st.binary(min_size=1, max_size=8))
        elif damage == "short_npc":
            bad = StateFrame(seq, tick, now, enters=[UnknownEnter(3, EntityKind.NPC, b"x" * 16)])
            raw = encode_state(bad)
        elif damage == "bad_name":  # a player body whose name runs past its body_len
            bad = StateFrame(seq, tick, now, enters=[PlayerEnter(4, 1, 2, 3, 4, 5, "ab")])
            cut = bytearray(encode_state(bad))
            cut[HEADER.size + 2 + 2 + 3] -= 1  # its body_len: one byte short of the name
            raw = bytes(cut)
        before = draw(st.binary(max_size=5))
        after = draw(st.binary(max_size=12))
        out.append(Case(before + raw + after, len(before), len(before) + len(raw), now))
    return out


def npc_paths(m: Mirror) -> dict[int, NpcPath]:
    return {nid: e.path for nid, e in m.entities.items() if isinstance(e, Npc)}


@settings(max_examples=100, deadline=None)
@given(frames())
def test_the_tracker_knows_what_the_mirror_knows_about_npcs(cases: list[Case]) -> None:
    m = Mirror(name="alice")
    t = NpcTracker()
    text = welcome_text()
    m.receive(text, now=100.0)
    assert t.welcome(orjson.loads(text), 100.0)
    bounds, rate = m.bounds, 60
    assert bounds is not None and t.bounds == bounds and t.tick_rate == rate
    for c in cases:
        m.receive(c.data[c.start : c.end], now=c.now)
        t.feed(c.data, c.start, c.end, c.now)
        assert t.paths == npc_paths(m)
        later = c.now + 0.37
        tick = m.estimate_tick(later)
        assert t.estimate_tick(later) == tick
        for nid, e in m.entities.items():
            if isinstance(e, Npc):
                assert t.position(nid, tick) == m.npc_position(e, tick)
        near = t.nearest(0.0, 0.0, later)
        if near is None:
            assert not npc_paths(m)
        else:
            x, y, _ = t.position(near, tick)
            for e in m.npcs():
                ex, ey, _ = m.npc_position(e, tick)
                assert x * x + y * y <= ex * ex + ey * ey


def test_frames_before_the_welcome_and_empty_frames() -> None:
    t = NpcTracker()
    npc = NpcEnter(5, 1, NpcPath(100, 100, 100, 200, 200, 20, 1000))
    raw = encode_state(StateFrame(1, 1000, 0.0, enters=[npc]))
    assert not t.feed(raw, 0, len(raw), 1.0) and t.invalid == 1 and t.nearest(0, 0, 1.0) is None
    assert not t.welcome({"world": {}, "tick_rate": 60, "tick": 1}, 1.0)
    assert t.welcome(orjson.loads(welcome_text()), 1.0)
    assert t.feed(raw, 0, len(raw), 1.0) and set(t.paths) == {5} and t.nearest(0, 0, 2.0) == 5
    # The tick the frame named, then the local clock at the welcome's 60 Hz:
    assert t.estimate_tick(1.5) == 1030.0
    empty = encode_state(StateFrame(2, 1100, 0.0, moves=[Move(100, 1, 2, 3, 4)] * 50))
    assert t.feed(empty, 0, len(empty), 3.0) and set(t.paths) == {5} and t.last_tick == 1100
    full = encode_state(StateFrame(3, 1101, 0.0, flags=StateFlag.FULL))
    assert t.feed(full, 0, len(full), 3.1) and t.paths == {}
