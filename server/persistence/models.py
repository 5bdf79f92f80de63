"""What the storage hands back to the game besides `PlayerRecord`: plain read-side values.

Why plain dataclasses rather than rows: both backends (PostgreSQL and SQLite) return the same
types, so the game and the cache never see a driver's row class or its timestamp type. Times
are unix seconds (floats) everywhere above the storage layer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

AiOutcome = Literal["ok", "timeout", "error", "fallback", "invalid"]
AI_OUTCOMES: frozenset[str] = frozenset(("ok", "timeout", "error", "fallback", "invalid"))


@dataclass(slots=True, frozen=True)
class Account:
    """Credentials of a registered player; guests have none."""

    player_id: str
    email: str | None
    password_hash: str
    created_at: float


@dataclass(slots=True, frozen=True)
class Membership:
    """A player's place in a faction."""

    player_id: str
    faction: str
    rank: str
    joined_at: float


@dataclass(slots=True, frozen=True)
class FactionRelationship:
    faction_a: str
    faction_b: str
    relationship_type: str
    strength: int
    last_updated: float


@dataclass(slots=True, frozen=True)
class FactionState:
    """A faction as the game shows it: what is cached under `faction:{name}:state`."""

    name: str
    display_name: str
    created_at: float
    members: int
    relationships: tuple[FactionRelationship, ...] = ()


@dataclass(slots=True, frozen=True)
class Mission:
    mission_id: str
    title: str
    description: str | None
    generated_by: str
    difficulty: int
    estimated_duration_s: float | None
    reward_pool: int
    faction_impact: dict[str, Any] | None
    created_at: float
    expires_at: float | None


@dataclass(slots=True, frozen=True)
class MissionAssignment:
    mission_id: str
    player_id: str
    status: str  # "active" | "completed"
    assigned_at: float
    completed_at: float | None
    reward_paid: int


MISSION_STATES: tuple[str, ...] = ("offered", "accepted", "completed", "failed", "expired")
OPEN_MISSION_STATES: tuple[str, ...] = ("offered", "accepted")


@dataclass(slots=True, frozen=True)
class MissionOffer:
    """A mission's lifecycle for the player it was generated for (`mission_offers`).

    state: offered -> accepted -> completed | failed | expired (an offer can also expire or
    fail before it is accepted). `spec` is the validated mission (objectives...) as JSON.
    """

    mission_id: str
    player_id: str
    state: str
    spec: dict[str, Any]
    giver_faction: str | None
    offered_at: float
    expires_at: float | None
    accepted_at: float | None = None
    deadline: float | None = None
    ended_at: float | None = None
    reason: str | None = None


@dataclass(slots=True, frozen=True)
class NpcMemory:
    memory_id: str
    npc_id: str
    player_id: str | None
    memory_type: str
    content: dict[str, Any]
    emotional_weight: int
    created_at: float
    expires_at: float | None


@dataclass(slots=True, frozen=True)
class NpcRelationship:
    """What one NPC (by its stable key, never the net id) thinks of one player: affinity
    (liking) and trust, each -100..100, and how many conversations they had."""

    npc_key: str
    player_id: str
    affinity: int = 0
    trust: int = 0
    conversations: int = 0
    updated_at: float = 0.0


@dataclass(slots=True, frozen=True)
class Companion:
    companion_id: str
    player_id: str
    name: str
    companion_type: str
    personality: dict[str, Any]
    experience_points: int = 0
    loyalty_level: int = 50
    memory_data: dict[str, Any] | None = None
    created_at: float = 0.0


@dataclass(slots=True, frozen=True)
class LedgerEntry:
    """One money movement; the ledger is what makes money changes idempotent on replay."""

    entry_id: int
    event_id: str
    player_id: str
    delta: int
    balance_after: int
    reason: str
    created_at: float


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True, frozen=True)
class AiCall:
    """One language-model call as recorded in `ai_calls` (ids and time filled in if left out)."""

    provider: str  # "openai", "azure", "local", "offline"...
    model: str
    purpose: str  # "npc_dialogue", "mission", ...
    prompt_hash: str  # hash of the prompt, never the prompt itself
    tokens_in: int
    tokens_out: int
    latency_ms: int
    outcome: AiOutcome
    player_id: str | None = None  # UUID of the player the call served, if any
    npc_id: str | None = None
    created_at: float = field(default_factory=time.time)
    call_id: str = field(default_factory=_new_id)


@dataclass(slots=True, frozen=True)
class AuditEntry:
    """One admin action as recorded in `admin_audit`."""

    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    result: str  # "ok", "denied", "error: ..."
    created_at: float = field(default_factory=time.time)
    entry_id: str = field(default_factory=_new_id)


@dataclass(slots=True, frozen=True)
class PlayerNote:
    """An administrator's note on a player (`player_notes`); players never see notes."""

    account_id: str
    author: str
    text: str
    created_at: float = field(default_factory=time.time)
    note_id: str = field(default_factory=_new_id)


@dataclass(slots=True, frozen=True)
class PlayerWarning:
    """A warning an administrator gave a player (`player_warnings`); shown to the player until
    acknowledged."""

    account_id: str
    author: str
    reason: str
    created_at: float = field(default_factory=time.time)
    acknowledged_at: float | None = None
    warning_id: str = field(default_factory=_new_id)


@dataclass(slots=True)
class StorageInfo:
    """What health and the commands report about a backend."""

    backend: str
    schema_version: int
    details: dict[str, Any] = field(default_factory=dict)
