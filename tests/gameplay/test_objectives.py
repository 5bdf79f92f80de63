"""The pure objective checker: each objective kind against hand-built views of the world,
and the view over a real World."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from config import load_config
from server.gameplay.objectives import (
    MissionState,
    NpcFactionIndex,
    check_objectives,
    view_of_world,
)
from server.world.world import World
from tests.gameplay.support import PLACES, spec, view

PLACE_XY = {p.name: (p.x, p.y) for p in PLACES}


def state(objectives: list[dict[str, Any]], accepted_at: float = 0.0) -> MissionState:
    s = spec(objectives=objectives)
    return MissionState("m1", "p1", tuple(s.objectives), PLACE_XY, accepted_at)


def advance(s: MissionState, v: Any) -> tuple[MissionState, Any]:
    p = check_objectives(s, v)
    return MissionState(
        s.mission_id, s.player_id, s.objectives, s.places, s.accepted_at, s.deadline, p.states
    ), p


def test_reach_place_progresses_with_distance_and_latches() -> None:
    s = state([{"kind": "reach_place", "place": "docks", "radius_m": 10}])
    s, p = advance(s, view(1, {"p1": (500, 0.0, 0.0)}))  # 100 m away: start
    assert p.fractions == (0.0,) and not p.complete
    s, p = advance(s, view(2, {"p1": (500, 45.0, 0.0)}))  # 55 m left: 45 of 90 covered
    assert p.fractions == (0.5,)
    s, p = advance(s, view(3, {"p1": (500, 95.0, 0.0)}))
    assert p.complete and p.fractions == (1.0,)
    s, p = advance(s, view(4, {"p1": (500, 0.0, 0.0)}))  # walking away keeps it done
    assert p.complete


def test_talk_to_npc_needs_the_dialogue_record() -> None:
    s = state([{"kind": "talk_to_npc", "npc_id": 3}])
    _, p = advance(s, view(1, {"p1": (500, 0, 0)}, talked={"p1": {4}}))
    assert not p.complete
    _, p = advance(s, view(1, {"p1": (500, 0, 0)}, talked={"p1": {3}, "p2": {3}}))
    assert p.complete


def test_bring_npc_done_at_place_and_fails_when_npc_gone() -> None:
    s = state([{"kind": "bring_npc", "npc_id": 2, "place": "diner", "radius_m": 10}])
    npcs = [(0.0, 0.0, "ballas"), (0.0, 0.0, "none")]
    s2, p = advance(s, view(1, {"p1": (500, 0, 0)}, npcs))
    assert not p.complete and p.failed is None
    npcs[1] = (0.0, 95.0, "none")
    _, p = advance(s2, view(2, {"p1": (500, 0, 0)}, npcs))
    assert p.complete
    _, p = advance(s2, view(2, {"p1": (500, 0, 0)}, npcs, dead={2}))
    assert p.failed == "npc_gone"


def test_stay_in_area_must_be_continuous() -> None:
    s = state([{"kind": "stay_in_area", "place": "docks", "radius_m": 20, "seconds": 10}])
    inside, outside = {"p1": (500, 100.0, 5.0)}, {"p1": (500, 0.0, 0.0)}
    s, p = advance(s, view(100, inside))
    assert p.fractions == (0.0,)
    s, p = advance(s, view(105, inside))
    assert p.fractions == (0.5,)
    s, p = advance(s, view(106, outside))  # left: starts over
    assert p.fractions == (0.0,)
    s, p = advance(s, view(107, inside))
    s, p = advance(s, view(116, inside))
    assert not p.complete
    s, p = advance(s, view(117, inside))
    assert p.complete


def test_avoid_faction_fails_near_an_npc_or_player_member_and_completes_in_time() -> None:
    s = state(
        [{"kind": "avoid_faction", "faction": "vagos", "distance_m": 30, "seconds": 60}],
        accepted_at=1000,
    )
    npcs = [(0.0, 0.0, "ballas"), (500.0, 500.0, "vagos"), (40.0, 0.0, "vagos")]
    me = {"p1": (500, 0.0, 0.0)}
    _, p = advance(s, view(1030, me, npcs))
    assert p.failed is None and p.fractions == (0.5,)
    _, p = advance(s, view(1030, {"p1": (500, 15.0, 0.0)}, npcs))  # 25 m from a vagos NPC
    assert p.failed == "spotted_by:vagos"
    near_player = {"p1": (500, 0.0, 0.0), "p2": (501, 0.0, 20.0)}
    _, p = advance(s, view(1030, near_player, npcs, faction_players={"vagos": [501]}))
    assert p.failed == "spotted_by:vagos"
    _, p = advance(s, view(1030, me, npcs, dead={3}))  # dead NPCs see nothing
    assert p.failed is None
    _, p = advance(s, view(1061, me, npcs))
    assert p.complete


def test_offline_player_does_not_advance() -> None:
    s = state([{"kind": "talk_to_npc", "npc_id": 3}])
    p = check_objectives(s, view(1, {}, talked={"p1": {3}}))
    assert not p.complete and not p.differs(s.states)


@given(st.lists(st.floats(0, 200), min_size=1, max_size=30))
def test_reach_progress_never_goes_back(xs: list[float]) -> None:
    s = state([{"kind": "reach_place", "place": "docks", "radius_m": 10}])
    last = 0.0
    for i, x in enumerate(xs):
        s, p = advance(s, view(i, {"p1": (500, x, 0.0)}))
        assert 0.0 <= p.fractions[0] <= 1.0 and p.fractions[0] >= last
        last = p.fractions[0]


def test_view_of_a_real_world_and_the_faction_index() -> None:
    cfg = load_config(npc_count=30, spawn_area_size=100.0, log_level="warning", sqlite_path="")
    w = World(cfg, 240)
    nid = w.net_ids.allocate(w.tick)
    w.spawn_player(nid, "Ana", 10.0, 20.0, 0.0, 0.0)
    index = NpcFactionIndex()
    index.refresh(w, budget=10)
    assert int((index.codes >= 0).sum()) == 10  # bounded work per call
    for _ in range(3):
        index.refresh(w, budget=10)
    v = view_of_world(w, 5.0, {"p1": nid, "gone": 9999}, index)
    assert dict(v.player_nid) == {"p1": nid}
    assert (v.player_x[nid], v.player_y[nid]) == (10.0, 20.0)
    # The vectorised mask agrees with the identities one by one.
    some = w.identities.get(0).faction
    mask = v.faction_mask(some)
    expect = np.array([w.identities.get(i).faction == some for i in range(w.npcs.n)])
    assert (mask == (expect & w.npcs.alive)).all() and mask.any()
