"""The client's `mission` message: every valid one survives encode -> decode, every invalid
one is refused with BAD_FIELD, and the mirror's encoder refuses locally what the server would."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import control as c
from protocol.catalogue import MISSION_ACTIONS, ErrorCode, ProtocolError
from protocol.mirror import Mirror

texts = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
    min_size=1,
    max_size=c.MISSION_ID_MAX,
)


@st.composite
def missions(draw: st.DrawFn) -> c.Mission:
    action = draw(st.sampled_from(MISSION_ACTIONS))
    needs_id = action in ("accept", "abandon", "complete")
    mission_id = draw(texts) if needs_id else draw(st.none() | texts)
    npc = (
        draw(st.integers(0, 65535))
        if action == "request"
        else draw(st.none() | st.integers(0, 65535))
    )
    theme = draw(st.none() | texts.filter(lambda t: len(t) <= c.MISSION_THEME_MAX))
    return c.Mission(action=action, id=mission_id, npc=npc, theme=theme)


@given(missions())
def test_valid_missions_round_trip(msg: c.Mission) -> None:
    assert c.decode_client(c.encode(msg)) == msg


@given(missions())
def test_the_mirror_encodes_what_the_server_decodes(msg: c.Mission) -> None:
    data = Mirror(name="a").mission(msg.action, msg.id, npc=msg.npc, theme=msg.theme)
    assert c.decode_client(data) == msg


@pytest.mark.parametrize(
    "body",
    [
        {"action": "fly"},
        {"action": None},
        {"action": ["list"]},
        {"action": "complete"},
        {"action": "accept", "id": ""},
        {"action": "abandon", "id": 7},
        {"action": "request"},
        {"action": "request", "npc": -1},
        {"action": "request", "npc": 1, "theme": "a\nb"},
        {"action": "list", "npc": 1.5},
        {"action": "request", "npc": True},
    ],
)
def test_invalid_missions_are_bad_field(body: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as err:
        c.decode_client(orjson.dumps({"op": "mission", **body}))
    assert err.value.error is ErrorCode.BAD_FIELD


def test_the_mirror_refuses_locally() -> None:
    m = Mirror(name="a")
    for call in (
        lambda: m.mission("fly"),
        lambda: m.mission("complete"),
        lambda: m.mission("request"),
        lambda: m.mission("request", npc=70000),
        lambda: m.mission("request", npc=1, theme="x" * (c.MISSION_THEME_MAX + 1)),
    ):
        with pytest.raises(ValueError):
            call()
