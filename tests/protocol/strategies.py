"""Hypothesis strategies for protocol values, shared by the protocol tests."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol import control as c
from protocol.catalogue import EntityKind, StateFlag
from protocol.quant import WorldBounds
from protocol.state import (
    PLAYER_NAME_MAX_BYTES,
    Enter,
    InputFrame,
    Move,
    NpcEnter,
    NpcPath,
    PlayerEnter,
    StateFrame,
    UnknownEnter,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
finite = st.floats(allow_nan=False, allow_infinity=False)
f32 = st.floats(allow_nan=False, allow_infinity=False, width=32)

# Text the JSON codec can carry and the validators accept: no control characters, no lone
# surrogates (which UTF-8, and so JSON on the wire, cannot represent).
_chars = st.characters(min_codepoint=0x20, exclude_categories=("Cs",))
names = st.text(_chars, min_size=1, max_size=c.NAME_MAX)
texts = st.text(_chars, min_size=1, max_size=c.TEXT_MAX)
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=64)


@st.composite
def bounds(draw: st.DrawFn) -> WorldBounds:
    lo = [draw(st.floats(-1e4, 1e4)) for _ in range(3)]
    size = [draw(st.floats(1.0, 2e4)) for _ in range(3)]
    return WorldBounds(lo[0], lo[1], lo[2], lo[0] + size[0], lo[1] + size[1], lo[2] + size[2])


paths = st.builds(NpcPath, u16, u16, u16, u16, u16, u8, u32)


def _fits(name: str) -> bool:
    return len(name.encode("utf-8")) <= PLAYER_NAME_MAX_BYTES


player_enters = st.builds(
    PlayerEnter,
    u16,
    u16,
    u16,
    u16,
    u8,
    u8,
    st.text(st.characters(exclude_categories=("Cs",)), max_size=80).filter(_fits),
)
npc_enters = st.builds(NpcEnter, u16, u16, paths)
unknown_enters = st.builds(
    UnknownEnter,
    u16,
    u8.filter(lambda k: k not in (EntityKind.PLAYER, EntityKind.NPC)),
    st.binary(max_size=255),
)
enters: st.SearchStrategy[Enter] = st.one_of(player_enters, npc_enters, unknown_enters)
moves = st.builds(Move, u16, u16, u16, u16, u8)

state_frames = st.builds(
    StateFrame,
    seq=u32,
    tick=u32,
    server_time=finite,
    flags=u8.map(StateFlag),
    leaves=st.lists(u16, max_size=20),
    enters=st.lists(enters, max_size=8),
    paths=st.lists(st.tuples(u16, paths), max_size=8),
    moves=st.lists(moves, max_size=20),
)

input_frames = st.builds(InputFrame, u32, u32, f32, f32, f32, f32)
