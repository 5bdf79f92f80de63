"""Typed faction and companion events for the Python SDK (SPEC §4.3 `event` types).

The server sends them as `event` messages (`GameEventReceived(type, data)`); the client also
delivers each one it knows as one of these dataclasses, right after the raw event, so an app
can `client.on(FactionRelation, ...)` or `await client.wait_for(...)` on typed fields. Fields a
newer server adds are ignored; a malformed event is simply not typed (its raw form still
arrives).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.mirror import GameEventReceived


class RequestRefusedError(Exception):
    """A `faction` or `companion` request the server refused (error FACTION_REFUSED or
    COMPANION_REFUSED, or BAD_FIELD): `reason` is the documented reason (`rank`, `limit`...)."""

    def __init__(self, code_name: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code_name = code_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FactionUpdate:
    """Your own faction or rank changed (`faction`); `faction` is None when you have none."""

    faction: str | None
    rank: int
    rank_name: str | None
    change: str | None
    faction_name: str | None
    actor_id: str | None


@dataclass(frozen=True, slots=True)
class FactionMember:
    """Another member of your faction joined, left, was promoted, demoted or kicked."""

    faction: str
    change: str | None
    player_id: str | None
    name: str | None
    net_id: int | None
    rank: int | None
    rank_name: str | None
    actor_id: str | None


@dataclass(frozen=True, slots=True)
class MemberInfo:
    player_id: str
    name: str | None
    rank: int
    rank_name: str
    joined_at: float
    online: bool


@dataclass(frozen=True, slots=True)
class RelationInfo:
    faction: str
    strength: int
    stance: str


@dataclass(frozen=True, slots=True)
class FactionInfo:
    """The answer to `faction_info`."""

    name: str
    display_name: str
    created_at: float
    member_count: int
    members: tuple[MemberInfo, ...]
    relationships: tuple[RelationInfo, ...]
    news: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FactionRelation:
    """Two factions' relationship moved; `stance_changed` when war or alliance began or ended."""

    faction_a: str
    faction_b: str
    strength: int
    previous_strength: int
    stance: str
    previous_stance: str
    reason: str

    @property
    def stance_changed(self) -> bool:
        return self.stance != self.previous_stance


@dataclass(frozen=True, slots=True)
class FactionNews:
    """A line of news about your faction, as its NPCs will tell it."""

    faction: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class CompanionUpdate:
    """One of your companions changed (`change`: created, summoned, recalled, dismissed,
    treated, renamed, left); `net_id` is its NPC in the world, None when it is not there."""

    id: str
    change: str
    name: str | None
    kind: str | None
    net_id: int | None
    loyalty: int
    experience: int


@dataclass(frozen=True, slots=True)
class CompanionSummary:
    id: str
    name: str
    kind: str
    loyalty: int
    experience: int
    net_id: int | None


@dataclass(frozen=True, slots=True)
class CompanionInfo:
    """The answer to `companion_info`: your companions and how many you may have."""

    companions: tuple[CompanionSummary, ...]
    limit: int


SocialEvent = (
    FactionUpdate
    | FactionMember
    | FactionInfo
    | FactionRelation
    | FactionNews
    | CompanionUpdate
    | CompanionInfo
)


def _pick(cls: type[Any], d: Mapping[str, Any]) -> Any:
    return cls(**{f: d.get(f) for f in cls.__dataclass_fields__})


def _info(d: Mapping[str, Any]) -> FactionInfo:
    return FactionInfo(
        name=d["name"],
        display_name=d["display_name"],
        created_at=d["created_at"],
        member_count=d["member_count"],
        members=tuple(_pick(MemberInfo, m) for m in d["members"]),
        relationships=tuple(_pick(RelationInfo, r) for r in d["relationships"]),
        news=tuple(d.get("news", ())),
    )


def _companions(d: Mapping[str, Any]) -> CompanionInfo:
    return CompanionInfo(
        companions=tuple(_pick(CompanionSummary, c) for c in d["companions"]),
        limit=d["limit"],
    )


_PARSERS: dict[str, Callable[[Mapping[str, Any]], SocialEvent]] = {
    "faction": lambda d: _pick(FactionUpdate, {"rank": 0, **d}),
    "faction.member": lambda d: _pick(FactionMember, d),
    "faction.info": _info,
    "faction.relation": lambda d: _pick(FactionRelation, d),
    "faction.news": lambda d: _pick(FactionNews, d),
    "companion": lambda d: _pick(CompanionUpdate, d),
    "companion.info": _companions,
}


def typed_event(ev: GameEventReceived) -> SocialEvent | None:
    """The typed form of a faction or companion `event`, or None (another type, or malformed)."""
    parse = _PARSERS.get(ev.type)
    if parse is None:
        return None
    try:
        return parse(ev.data)
    except (KeyError, TypeError):
        return None
