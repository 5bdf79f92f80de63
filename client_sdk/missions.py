"""Typed missions and money for the Python SDK: what `event` messages of types `mission`,
`mission.progress`, `mission.list` and `money` carry (SPEC §4.3), as dataclasses.

The client raises these right after the raw `GameEventReceived` they come from, so code that
reads raw events keeps working and code that wants types can `client.on(MissionOffered, fn)`.
A field the server leaves out is None (older or newer servers stay readable).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.mirror import GameEventReceived


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective: `kind` (reach_place, stay_in_area, talk_to_npc, bring_npc,
    avoid_faction), its target, and how far along it is (`progress` 0..1, `done`)."""

    kind: str
    progress: float = 0.0
    done: bool = False
    place: str | None = None
    x: float | None = None
    y: float | None = None
    radius_m: float | None = None
    npc_id: int | None = None
    npc_name: str | None = None  # talk_to_npc / bring_npc: whom to find
    faction: str | None = None
    seconds: int | None = None
    distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    """A relationship a completed mission moved: `faction` and `other`, by `delta`, now at
    `strength` (-100..100) and `stance` (war, hostile, neutral, friendly, allied)."""

    faction: str
    other: str
    delta: int
    strength: int
    stance: str


@dataclass(frozen=True, slots=True)
class MissionInfo:
    """A mission as the server last described it (`status`: offered, accepted, completed,
    failed, expired)."""

    id: str
    status: str
    title: str
    description: str
    objectives: tuple[Objective, ...]
    difficulty: int
    reward: int  # money
    reputation: int
    faction_impact: Mapping[str, int]
    giver_npc: int | None = None
    giver_name: str | None = None
    giver_faction: str | None = None
    expires_at: float | None = None
    deadline: float | None = None
    reason: str | None = None
    paid: int | None = None  # completed: money paid by this completion (0 when repeated)
    repeated: bool | None = None  # completed: completed before, nothing applied now
    balance: int | None = None  # completed: the player's money afterwards
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True, slots=True)
class MissionEvent:
    """Any change of a mission's status (base of the five below)."""

    mission: MissionInfo


class MissionOffered(MissionEvent):
    __slots__ = ()


class MissionAccepted(MissionEvent):
    __slots__ = ()


class MissionCompleted(MissionEvent):
    __slots__ = ()


class MissionFailed(MissionEvent):
    __slots__ = ()


class MissionExpired(MissionEvent):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class MissionProgressed:
    """An accepted mission's objectives advanced: one (progress, done) per objective."""

    id: str
    objectives: tuple[tuple[float, bool], ...]
    complete: bool


@dataclass(frozen=True, slots=True)
class MissionsListed:
    """Answer to `list`: the player's recent missions, newest first."""

    missions: tuple[MissionInfo, ...]


@dataclass(frozen=True, slots=True)
class MoneyChanged:
    """The player's money is now `money` (changed by `delta`, for `reason`)."""

    money: int
    delta: int
    reason: str


MissionSdkEvent = MissionEvent | MissionProgressed | MissionsListed | MoneyChanged

_BY_STATUS: dict[str, type[MissionEvent]] = {
    "offered": MissionOffered,
    "accepted": MissionAccepted,
    "completed": MissionCompleted,
    "failed": MissionFailed,
    "expired": MissionExpired,
}


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _opt_int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def objective_of(d: Mapping[str, Any]) -> Objective:
    return Objective(
        kind=str(d.get("kind", "")),
        progress=float(d.get("progress", 0.0)),
        done=bool(d.get("done", False)),
        place=_opt_str(d.get("place")),
        x=_opt_float(d.get("x")),
        y=_opt_float(d.get("y")),
        radius_m=_opt_float(d.get("radius_m")),
        npc_id=_opt_int(d.get("npc_id")),
        npc_name=_opt_str(d.get("npc_name")),
        faction=_opt_str(d.get("faction")),
        seconds=_opt_int(d.get("seconds")),
        distance_m=_opt_float(d.get("distance_m")),
    )


def mission_of(d: Mapping[str, Any]) -> MissionInfo:
    """A `mission` event's data (or one entry of `mission.list`) -> MissionInfo."""
    reward = d.get("reward") or {}
    giver = d.get("giver") or {}
    impact = {
        str(f.get("faction")): int(f.get("delta", 0))
        for f in d.get("faction_impact") or []
        if isinstance(f, Mapping)
    }
    relations = tuple(
        Relation(
            str(r.get("faction")),
            str(r.get("other")),
            int(r.get("delta", 0)),
            int(r.get("strength", 0)),
            str(r.get("stance", "")),
        )
        for r in d.get("relations") or []
        if isinstance(r, Mapping)
    )
    return MissionInfo(
        id=str(d.get("id", "")),
        status=str(d.get("status", "")),
        title=str(d.get("title", "")),
        description=str(d.get("description", "")),
        objectives=tuple(
            objective_of(o) for o in d.get("objectives") or [] if isinstance(o, Mapping)
        ),
        difficulty=int(d.get("difficulty", 1)),
        reward=int(reward.get("money", 0)),
        reputation=int(reward.get("reputation", 0)),
        faction_impact=impact,
        giver_npc=_opt_int(giver.get("npc")),
        giver_name=_opt_str(giver.get("name")),
        giver_faction=_opt_str(giver.get("faction")),
        expires_at=_opt_float(d.get("expires_at")),
        deadline=_opt_float(d.get("deadline")),
        reason=_opt_str(d.get("reason")),
        paid=_opt_int(d.get("paid")),
        repeated=d.get("repeated") if isinstance(d.get("repeated"), bool) else None,
        balance=_opt_int(d.get("balance")),
        relations=relations,
    )


def typed_event(ev: GameEventReceived) -> MissionSdkEvent | None:
    """The typed event for a raw `event`, or None for types this module does not know (or
    data too broken to read: the raw event is still there)."""
    d = ev.data
    try:
        if ev.type == "mission":
            cls = _BY_STATUS.get(str(d.get("status")))
            return cls(mission_of(d)) if cls is not None else None
        if ev.type == "mission.progress":
            return MissionProgressed(
                id=str(d["id"]),
                objectives=tuple(
                    (float(o.get("progress", 0.0)), bool(o.get("done", False)))
                    for o in d.get("objectives") or []
                ),
                complete=bool(d.get("complete", False)),
            )
        if ev.type == "mission.list":
            return MissionsListed(tuple(mission_of(m) for m in d.get("missions") or []))
        if ev.type == "money":
            return MoneyChanged(int(d["money"]), int(d.get("delta", 0)), str(d.get("reason", "")))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


__all__ = [
    "MissionAccepted",
    "MissionCompleted",
    "MissionEvent",
    "MissionExpired",
    "MissionFailed",
    "MissionInfo",
    "MissionOffered",
    "MissionProgressed",
    "MissionSdkEvent",
    "MissionsListed",
    "MoneyChanged",
    "Objective",
    "Relation",
    "mission_of",
    "typed_event",
]
