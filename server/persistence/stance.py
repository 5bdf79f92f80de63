"""How two factions stand with each other, derived from their relationship strength.

Why here and not in the gameplay package: the stance is stored beside the strength
(`faction_relationships.relationship_type`) and must change in the same transaction as the
strength (a mission's faction impact, a member killed), also when the outage journal replays
the write after a restart. So the storage applies the rule itself; the thresholds travel in the
write (`ShiftRelationship.rule`) so a replay uses the numbers the game used.

Hysteresis: war starts at or below `war_at` and ends only above `peace_above`; an alliance
starts at or above `ally_at` and ends only below `ally_until`. Between those, the stance is a
plain band (hostile / neutral / friendly). Without the gap, a strength hovering around one
threshold would declare and end a war on every kill.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Literal

Stance = Literal["war", "hostile", "neutral", "friendly", "allied"]
STANCES: tuple[Stance, ...] = ("war", "hostile", "neutral", "friendly", "allied")
MIN_STRENGTH, MAX_STRENGTH = -100, 100


@dataclass(frozen=True, slots=True)
class StanceRule:
    """Thresholds on strength (-100..100); the defaults are the documented game rule."""

    war_at: int = -60  # strength <= war_at: war
    peace_above: int = -40  # at war, strength > peace_above: war over
    hostile_below: int = -20  # strength < hostile_below: hostile
    friendly_above: int = 20  # strength > friendly_above: friendly
    ally_until: int = 40  # allied, strength < ally_until: alliance over
    ally_at: int = 60  # strength >= ally_at: allied

    def __post_init__(self) -> None:
        order = astuple(self)
        if not all(a < b for a, b in itertools.pairwise(order)):
            raise ValueError(
                "stance thresholds must increase: war_at < peace_above < hostile_below"
                " < friendly_above < ally_until < ally_at"
            )
        if not (self.war_at > MIN_STRENGTH and self.ally_at < MAX_STRENGTH):
            raise ValueError("stance thresholds must lie strictly inside -100..100")

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.war_at,
            self.peace_above,
            self.hostile_below,
            self.friendly_above,
            self.ally_until,
            self.ally_at,
        )

    @classmethod
    def of(cls, values: Sequence[int]) -> StanceRule:
        return cls(*(int(v) for v in values))


DEFAULT_RULE = StanceRule()


def clamp_strength(value: int) -> int:
    return max(MIN_STRENGTH, min(MAX_STRENGTH, int(value)))


def stance_after(previous: str | None, strength: int, rule: StanceRule = DEFAULT_RULE) -> Stance:
    """The stance once the strength is `strength`, coming from stance `previous`."""
    if strength <= rule.war_at or (previous == "war" and strength <= rule.peace_above):
        return "war"
    if strength >= rule.ally_at or (previous == "allied" and strength >= rule.ally_until):
        return "allied"
    if strength < rule.hostile_below:
        return "hostile"
    if strength > rule.friendly_above:
        return "friendly"
    return "neutral"


def canonical_pair(a: str, b: str) -> tuple[str, str]:
    """Relationships are symmetric and stored once, under the names in sorted order."""
    if a == b:
        raise ValueError("a faction has no relationship with itself")
    return (a, b) if a < b else (b, a)
