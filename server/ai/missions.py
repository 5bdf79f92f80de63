"""A mission as structured output: the pydantic model a model must fill, and its world check.

Why typed objectives: every objective is something the server can verify in the world (a
position, an NPC id, a faction, a duration); free-text goals could never be checked off.
`check_against` then rejects references to places, NPCs or factions the context did not offer,
so a model cannot invent a target the game does not have.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.ai.context import MissionContext


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReachPlace(_Strict):
    kind: Literal["reach_place"]
    place: str = Field(min_length=1, max_length=60)
    radius_m: float = Field(ge=5, le=200)


class TalkToNpc(_Strict):
    kind: Literal["talk_to_npc"]
    npc_id: int = Field(ge=0)


class BringNpc(_Strict):
    kind: Literal["bring_npc"]
    npc_id: int = Field(ge=0)
    place: str = Field(min_length=1, max_length=60)
    radius_m: float = Field(ge=5, le=200)


class StayInArea(_Strict):
    kind: Literal["stay_in_area"]
    place: str = Field(min_length=1, max_length=60)
    radius_m: float = Field(ge=5, le=200)
    seconds: int = Field(ge=10, le=1800)


class AvoidFaction(_Strict):
    kind: Literal["avoid_faction"]
    faction: str = Field(min_length=1, max_length=40)
    distance_m: float = Field(ge=10, le=500)
    seconds: int = Field(ge=10, le=1800)


Objective = Annotated[
    ReachPlace | TalkToNpc | BringNpc | StayInArea | AvoidFaction, Field(discriminator="kind")
]


class RewardPool(_Strict):
    money: int = Field(ge=0, le=1_000_000)
    reputation: int = Field(ge=0, le=100)


class FactionImpact(_Strict):
    faction: str = Field(min_length=1, max_length=40)
    delta: int = Field(ge=-20, le=20)


class MissionSpec(_Strict):
    """A mission offer. Places, NPC ids and factions must be ones the context listed."""

    title: str = Field(min_length=3, max_length=80)
    description: str = Field(min_length=10, max_length=600)
    objectives: list[Objective] = Field(min_length=1, max_length=5)
    difficulty: int = Field(ge=1, le=10)
    estimated_minutes: int = Field(ge=1, le=180)
    reward: RewardPool
    faction_impact: list[FactionImpact] = Field(default_factory=list, max_length=4)


def check_against(spec: MissionSpec, ctx: MissionContext) -> list[str]:
    """Problems with `spec` in this world (empty = usable)."""
    places = {p.name for p in ctx.places}
    npcs = set(ctx.npc_ids)
    factions = set(ctx.factions)
    problems = []
    for i, o in enumerate(spec.objectives):
        if isinstance(o, ReachPlace | BringNpc | StayInArea) and o.place not in places:
            problems.append(f"objectives[{i}].place: unknown place {o.place!r}")
        if isinstance(o, TalkToNpc | BringNpc) and o.npc_id not in npcs:
            problems.append(f"objectives[{i}].npc_id: unknown npc {o.npc_id}")
        if isinstance(o, AvoidFaction) and o.faction not in factions:
            problems.append(f"objectives[{i}].faction: unknown faction {o.faction!r}")
    for i, f in enumerate(spec.faction_impact):
        if f.faction not in factions:
            problems.append(f"faction_impact[{i}].faction: unknown faction {f.faction!r}")
    if spec.reward.money > ctx.max_reward:
        problems.append(f"reward.money: above the limit {ctx.max_reward}")
    return problems
