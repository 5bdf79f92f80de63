"""Domain events emitted by the gameplay services.

Services never deliver anything themselves: each takes an ``emit`` callback
(:data:`Emit`) and calls it with one of these frozen dataclasses after the change
is durable. The integrator maps them onto the game event bus (who receives what:
faction members, the mission's player, NPC prompts).

Every event carries ``at`` (unix seconds, the server clock when the change was
made) so a consumer can order or drop stale ones without asking storage again.
Other gameplay modules (memory, companions, rumours) add their events here or in
their own module by subclassing :class:`GameplayEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class GameplayEvent:
    """Base of every gameplay event; ``at`` is unix seconds."""

    at: float


Emit = Callable[[GameplayEvent], None]
"""Sink for events. Must not block: the bus queues, the service never awaits it."""


def discard(event: GameplayEvent) -> None:
    """An :data:`Emit` that drops everything (tests, tools)."""


# --------------------------------------------------------------------------- factions


@dataclass(frozen=True, slots=True, kw_only=True)
class FactionChanged(GameplayEvent):
    """A faction's membership or ranks changed.

    ``change`` is one of ``created``, ``joined``, ``left``, ``promoted``, ``demoted``,
    ``kicked``. ``player_id`` is the member concerned, ``actor_id`` who did it (the
    same player for join/leave/create), ``rank`` the member's rank afterwards
    (``None`` after leave/kick).
    """

    faction: str
    change: str
    player_id: str
    actor_id: str
    rank: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationshipChanged(GameplayEvent):
    """The strength between two factions moved.

    ``faction_a``/``faction_b`` are in canonical (sorted) order. ``stance`` is the
    derived state after the change (``war``, ``hostile``, ``neutral``, ``friendly``,
    ``allied``); ``previous_stance`` differs from it exactly when a threshold was
    crossed (war declared, alliance formed or broken). ``reason`` names the cause
    (``member_killed``, ``mission``, ``admin``...).
    """

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


# --------------------------------------------------------------------------- missions


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionOffered(GameplayEvent):
    """A generated mission was offered to ``player_id``; ``spec`` is its public JSON."""

    mission_id: str
    player_id: str
    title: str
    difficulty: int
    reward: int
    expires_at: float
    source: str
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionAccepted(GameplayEvent):
    mission_id: str
    player_id: str
    deadline: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionProgress(GameplayEvent):
    """Objective progress changed. ``objectives`` holds one fraction 0..1 per objective."""

    mission_id: str
    player_id: str
    objectives: tuple[float, ...]
    done: tuple[bool, ...]
    failed_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionCompleted(GameplayEvent):
    """Reward paid and faction impact applied (once). ``balance`` is the player's money after."""

    mission_id: str
    player_id: str
    reward: int
    balance: int
    faction_impact: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionFailed(GameplayEvent):
    mission_id: str
    player_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionExpired(GameplayEvent):
    """An offer nobody accepted, or an accepted mission past its deadline."""

    mission_id: str
    player_id: str
    state: str
