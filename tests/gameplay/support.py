"""Shared pieces of the mission tests: a fixed mission generator and hand-built world views."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from server.ai.context import MissionContext, NpcPersona, Place
from server.ai.missions import MissionSpec
from server.ai.service import MissionResult
from server.ai.types import CallerInfo
from server.gameplay.objectives import WorldView

PLACES = (Place("docks", 100.0, 0.0), Place("diner", 0.0, 100.0))
GIVER = NpcPersona("npc-7", "Big Smoke", "gang_member", "ballas")


def spec(**over: Any) -> MissionSpec:
    body: dict[str, Any] = {
        "title": "Word at the docks",
        "description": "Go to the docks and have a word with the lookout there.",
        "objectives": [
            {"kind": "reach_place", "place": "docks", "radius_m": 10},
            {"kind": "talk_to_npc", "npc_id": 3},
        ],
        "difficulty": 3,
        "estimated_minutes": 10,
        "reward": {"money": 750, "reputation": 5},
        "faction_impact": [{"faction": "vagos", "delta": -15}],
    }
    body.update(over)
    return MissionSpec.model_validate(body)


class FixedGenerator:
    """Stands in for AiService.generate_mission; records the contexts it was given."""

    def __init__(self, mission: MissionSpec | None = None) -> None:
        self.mission = mission or spec()
        self.contexts: list[MissionContext] = []

    async def generate_mission(self, ctx: MissionContext, caller: CallerInfo) -> MissionResult:
        self.contexts.append(ctx)
        return MissionResult(self.mission, "ok", "model", "", "hash", 1)


def context(player_id: str) -> MissionContext:
    return MissionContext(
        player_id=player_id,
        giver=GIVER,
        places=PLACES,
        npc_ids=(3, 4),
        factions=("ballas", "vagos"),
    )


def view(
    now: float,
    players: Mapping[str, tuple[int, float, float]],
    npcs: list[tuple[float, float, str]] | None = None,
    *,
    talked: Mapping[str, Collection[int]] | None = None,
    faction_players: Mapping[str, Collection[int]] | None = None,
    dead: Collection[int] = (),
) -> WorldView:
    """Players as id -> (net id, x, y); NPCs (net ids 1..n) as (x, y, faction)."""
    npcs = npcs or []
    px = np.zeros(4096)
    py = np.zeros(4096)
    for nid, x, y in players.values():
        px[nid], py[nid] = x, y
    codes: dict[str, int] = {}
    fac = np.array([codes.setdefault(f, len(codes)) for _, _, f in npcs], dtype=np.int16)
    alive = np.ones(len(npcs), dtype=np.bool_)
    for nid in dead:
        alive[nid - 1] = False
    return WorldView(
        now=now,
        player_nid={pid: nid for pid, (nid, _, _) in players.items()},
        player_x=px,
        player_y=py,
        npc_first_id=1,
        npc_x=np.array([x for x, _, _ in npcs], dtype=np.float64),
        npc_y=np.array([y for _, y, _ in npcs], dtype=np.float64),
        npc_alive=alive,
        npc_faction=fac,
        faction_codes=codes,
        talked=talked or {},
        faction_players=faction_players or {},
    )
