"""What the game layer tells the AI layer about an NPC, a player and the world.

Why snapshots: the game layer copies these out of the world on its worker (never on the tick)
and hands them over; the AI layer never reads the live world, so a slow model cannot hold a
world lock or see state change under it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NpcPersona:
    npc_id: str
    name: str
    role: str
    faction: str | None = None
    personality: str = "guarded"
    mood: str = "calm"


@dataclass(frozen=True, slots=True)
class Relationship:
    """This NPC's view of one player: trust -100..100 and how often they talked."""

    trust: int = 0
    conversations: int = 0

    @property
    def label(self) -> str:
        if self.trust >= 60:
            return "trusted friend"
        if self.trust >= 20:
            return "friendly acquaintance"
        if self.trust > -20:
            return "stranger" if self.conversations == 0 else "known face"
        if self.trust > -60:
            return "distrusted"
        return "enemy"


@dataclass(frozen=True, slots=True)
class Memory:
    """One memory the NPC holds (from `npc_memories`): weight 0-100, age in game hours."""

    memory_id: str
    text: str
    weight: int = 50
    age_hours: float = 0.0
    kind: str = "conversation"
    embedding: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class DialogueContext:
    persona: NpcPersona
    player_id: str
    player_name: str
    player_text: str
    relationship: Relationship = Relationship()
    location: str = "the street"
    faction_events: tuple[str, ...] = ()
    memories: tuple[Memory, ...] = ()
    # Earlier lines of this conversation, oldest first, as (speaker, text); the model gets them
    # as chat turns, the offline grammar uses their count to vary its answer.
    history: tuple[tuple[str, str], ...] = ()

    @property
    def turn(self) -> int:
        return len(self.history)


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class MissionContext:
    """What a generated mission may refer to: the validator rejects anything else."""

    player_id: str
    giver: NpcPersona
    places: tuple[Place, ...]
    npc_ids: tuple[int, ...] = ()
    factions: tuple[str, ...] = ()
    difficulty_hint: int = 3
    max_reward: int = 5000
    theme: str = ""
    # Names of `npc_ids`, in the same order (shorter or empty: unnamed), so a mission's text
    # can say whom to find; the objectives still refer to the net id.
    npc_names: tuple[str, ...] = ()

    def npc_name(self, npc_id: int) -> str | None:
        for i, nid in enumerate(self.npc_ids):
            if nid == npc_id:
                return self.npc_names[i] if i < len(self.npc_names) else None
        return None
