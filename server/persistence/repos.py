"""Typed repositories: how game code reaches stored data, one small contract per domain.

`persistence.repos.players / .accounts / .factions / .missions / .companions / .npc_memory /
.ai_calls / .audit / .npc_relationships` (and the auth library's `.auth_accounts / .auth_sessions` with the admin
console's `.notes / .warnings`, auth_repos.py) are the same on every backend. Why one contract per domain instead of one
big object: a game mode that hands out missions should see missions, not the money ledger; and
an in-memory implementation of each makes game logic testable without a database.

Where each backend lives: the storage contract (`storage.Storage`) is implemented by
PostgreSQL and SQLite (`pg_storage`, `sqlite_storage`, sharing `sql`) and in memory
(`memory_storage`); the classes below turn a `DomainStore` (the persistence service over one of
those, or `MemoryPersistence`) into these repositories. The same contract tests
(tests/persistence/test_repos.py) run against all three.

Durability, as the service promises: every `async` write is durable when it returns (database,
or the outage journal); `npc_memory.add` and `ai_calls.record` are queued, never awaited, and
return False/None when the queue is full.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from server.auth.crypto import AesGcmFields, DecryptionError, FieldProtector, is_sealed
from server.persistence.api import PlayerRecord
from server.persistence.auth_repos import AuthAccounts, AuthSessions, PlayerNotes, PlayerWarnings
from server.persistence.auth_storage import AuthStorage
from server.persistence.models import (
    AI_OUTCOMES,
    Account,
    AiCall,
    AuditEntry,
    Companion,
    FactionState,
    LedgerEntry,
    Membership,
    Mission,
    MissionAssignment,
    MissionOffer,
    NpcMemory,
    NpcRelationship,
)
from server.persistence.stance import DEFAULT_RULE, StanceRule

log = logging.getLogger("ganggpt.persistence")


# --- the contracts game code sees ---
class PlayerRepository(Protocol):
    async def load_or_create(self, name: str) -> PlayerRecord: ...
    async def get(self, player_id: str) -> PlayerRecord | None: ...
    async def names(self, player_ids: Sequence[str]) -> dict[str, str]:
        """The name each stored player is shown by (an account's display name), in one
        read; unknown ids are left out."""
        ...

    async def change_money(
        self, player_id: str, delta: int, reason: str, *, event_id: str | None = None
    ) -> str:
        """Durable money movement; returns its event id (pass it again to retry safely)."""
        ...

    async def ledger(self, player_id: str) -> list[LedgerEntry]: ...


class AccountRepository(Protocol):
    async def create(
        self, player_id: str, password_hash: str, email: str | None = None
    ) -> None: ...

    async def get(self, player_id: str) -> Account | None: ...


class FactionRepository(Protocol):
    async def create(self, name: str, display_name: str | None = None) -> None: ...
    async def join(self, player_id: str, faction: str, rank: str = "member") -> None: ...
    async def leave(self, player_id: str) -> None: ...
    async def membership(self, player_id: str) -> Membership | None: ...
    async def state(self, name: str) -> FactionState | None: ...
    async def set_relationship(
        self, faction_a: str, faction_b: str, relationship_type: str, strength: int
    ) -> None: ...

    async def members(self, faction: str) -> list[Membership]:
        """Members in the order they joined (ranks included)."""
        ...

    async def names(self, after: str | None = None, limit: int = 200) -> list[str]:
        """Every faction's name in order: at most `limit`, those after `after` (a page)."""
        ...

    async def shift_relationship(
        self,
        faction_a: str,
        faction_b: str,
        delta: int,
        *,
        reason: str,
        event_id: str | None = None,
        rule: StanceRule = DEFAULT_RULE,
    ) -> str:
        """Strength += delta (clamped), stance re-derived by `rule`, in one transaction; the
        pair is stored in sorted order. Returns the event id: retrying with it applies once."""
        ...


class MissionRepository(Protocol):
    async def create(
        self,
        title: str,
        *,
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str: ...

    async def get(self, mission_id: str) -> Mission | None: ...
    async def assign(self, mission_id: str, player_id: str) -> None: ...
    async def complete(
        self, mission_id: str, player_id: str, reward: int = 0, *, event_id: str | None = None
    ) -> None: ...

    async def assignments(self, player_id: str) -> list[MissionAssignment]: ...

    # --- the offer lifecycle: offered -> accepted -> completed | failed | expired ---
    async def offer(
        self,
        player_id: str,
        *,
        title: str,
        spec: dict[str, Any],
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        giver_faction: str | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str:
        """Create the mission and its offer to `player_id` together; returns the mission id."""
        ...

    async def accept(
        self, mission_id: str, player_id: str, *, deadline: float | None = None
    ) -> None:
        """offered -> accepted; StateConflict if it is not offered (or the offer expired)."""
        ...

    async def end(self, mission_id: str, player_id: str, state: str, reason: str) -> None:
        """offered/accepted -> "failed" or "expired"; StateConflict from any other state."""
        ...

    async def complete_with_rewards(
        self,
        mission_id: str,
        player_id: str,
        *,
        reward: int,
        shifts: Sequence[tuple[str, str, int]] = (),
        rule: StanceRule = DEFAULT_RULE,
    ) -> None:
        """accepted -> completed, `reward` paid and each (faction_a, faction_b, delta) shift
        applied, in ONE transaction, at most once per (mission, player): the key
        `completion_key(...)` is claimed under a unique constraint, so calling it again (a
        repeated message, a retry after a crash) changes nothing. StateConflict when the
        mission is neither accepted nor already completed."""
        ...

    async def offer_of(self, mission_id: str) -> MissionOffer | None: ...
    async def offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        """Newest first: the player's mission history."""
        ...

    async def open_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        """Still offered or accepted, oldest first."""
        ...

    async def completed(self, mission_id: str, player_id: str) -> bool:
        """Whether the completion of this (mission, player) has been applied."""
        ...


class CompanionRepository(Protocol):
    async def save(self, companion: Companion) -> None: ...
    async def of_player(self, player_id: str) -> list[Companion]: ...


class NpcMemoryRepository(Protocol):
    def add(
        self,
        npc_id: str,
        memory_type: str,
        content: dict[str, Any],
        *,
        player_id: str | None = None,
        emotional_weight: int = 50,
        expires_at: float | None = None,
    ) -> str | None:
        """Queue a memory (never waits); its id, or None when the queue is full."""
        ...

    async def recent(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Newest first, expired ones left out."""
        ...

    async def important(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Weightiest first (newest first among equals), expired ones left out."""
        ...

    async def decay(self, factor: float, floor: int, created_before: float) -> int:
        """Multiply by `factor` (0..1, to 1/1000) the weight of every memory created before
        `created_before`, never below `floor`; how many changed."""
        ...

    async def prune(self, now: float, created_before: float | None = None) -> int:
        """Delete expired memories and, with `created_before`, older ones; how many went."""
        ...

    async def edit(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        """Change one stored memory (durable when it returns); False if not found."""
        ...

    async def delete(self, npc_id: str, memory_id: str) -> bool:
        """Delete one stored memory (durable when it returns); False if not found."""
        ...


class NpcRelationshipRepository(Protocol):
    async def get(self, npc_key: str, player_id: str) -> NpcRelationship | None: ...
    async def save(self, rel: NpcRelationship) -> None:
        """Durable when it returns; ignored if the stored row is newer (`updated_at`)."""
        ...


class AiCallRepository(Protocol):
    def record(self, call: AiCall) -> bool:
        """Queue one AI call row; never waits, never raises. False when it was dropped."""
        ...

    async def recent(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        """Newest first."""
        ...


class AuditRepository(Protocol):
    async def append(self, entry: AuditEntry) -> None:
        """Durable when it returns: acknowledge the admin action only after it."""
        ...

    async def recent(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        """Newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Repositories:
    players: PlayerRepository
    accounts: AccountRepository
    factions: FactionRepository
    missions: MissionRepository
    companions: CompanionRepository
    npc_memory: NpcMemoryRepository
    ai_calls: AiCallRepository
    audit: AuditRepository
    npc_relationships: NpcRelationshipRepository
    # The auth library's stores (server/auth: AccountStore, RefreshTokenStore) and the admin
    # console's notes and warnings; see auth_repos.py for why they bypass the write-behind.
    auth_accounts: AuthAccounts
    auth_sessions: AuthSessions
    notes: PlayerNotes
    warnings: PlayerWarnings


# --- what a persistence must offer to get these repositories ---
class DomainStore(Protocol):
    async def load_or_create_player(self, name: str) -> PlayerRecord: ...
    async def get_player(self, player_id: str) -> PlayerRecord | None: ...
    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]: ...
    async def change_money(
        self, player_id: str, delta: int, reason: str, *, event_id: str | None = None
    ) -> str: ...
    async def ledger(self, player_id: str) -> list[LedgerEntry]: ...
    async def create_account(
        self, player_id: str, password_hash: str, email: str | None = None
    ) -> None: ...
    async def account(self, player_id: str) -> Account | None: ...
    async def create_faction(self, name: str, display_name: str | None = None) -> None: ...
    async def set_faction(
        self, player_id: str, faction: str | None, rank: str = "member"
    ) -> None: ...
    async def membership(self, player_id: str) -> Membership | None: ...
    async def faction_state(self, name: str) -> FactionState | None: ...
    async def set_faction_relationship(
        self, faction_a: str, faction_b: str, relationship_type: str, strength: int
    ) -> None: ...
    async def create_mission(
        self,
        title: str,
        *,
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str: ...
    async def mission(self, mission_id: str) -> Mission | None: ...
    async def assign_mission(self, mission_id: str, player_id: str) -> None: ...
    async def complete_mission(
        self, mission_id: str, player_id: str, reward: int = 0, *, event_id: str | None = None
    ) -> None: ...
    async def assignments(self, player_id: str) -> list[MissionAssignment]: ...
    async def save_companion(self, c: Companion) -> None: ...
    async def companions(self, player_id: str) -> list[Companion]: ...
    async def faction_members(self, faction: str) -> list[Membership]: ...
    async def faction_names(self, after: str | None, limit: int) -> list[str]: ...
    async def shift_faction_relationship(
        self,
        faction_a: str,
        faction_b: str,
        delta: int,
        *,
        reason: str,
        event_id: str | None = None,
        rule: StanceRule = DEFAULT_RULE,
    ) -> str: ...
    async def offer_mission(
        self,
        player_id: str,
        *,
        title: str,
        spec: dict[str, Any],
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        giver_faction: str | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str: ...
    async def accept_mission(
        self, mission_id: str, player_id: str, *, deadline: float | None = None
    ) -> None: ...
    async def end_mission(
        self, mission_id: str, player_id: str, state: str, reason: str
    ) -> None: ...
    async def complete_with_rewards(
        self,
        mission_id: str,
        player_id: str,
        *,
        reward: int,
        shifts: Sequence[tuple[str, str, int]] = (),
        rule: StanceRule = DEFAULT_RULE,
    ) -> None: ...
    async def mission_offer(self, mission_id: str) -> MissionOffer | None: ...
    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]: ...
    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]: ...
    async def event_applied(self, event_id: str) -> bool: ...
    def add_npc_memory(
        self,
        npc_id: str,
        memory_type: str,
        content: dict[str, Any],
        *,
        player_id: str | None = None,
        emotional_weight: int = 50,
        expires_at: float | None = None,
    ) -> str | None: ...
    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]: ...
    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]: ...
    async def decay_npc_memories(
        self, factor_milli: int, floor: int, created_before: float
    ) -> int: ...
    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int: ...
    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool: ...
    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool: ...
    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None: ...
    async def save_npc_relationship(self, rel: NpcRelationship) -> None: ...
    def record_ai_call(self, call: AiCall) -> bool: ...
    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]: ...
    async def append_audit(self, entry: AuditEntry) -> None: ...
    async def audit_log(
        self, limit: int = 100, *, actor: str | None = None
    ) -> list[AuditEntry]: ...


def check_ai_call(call: AiCall) -> str | None:
    """Why `call` cannot be stored (None: it can); checked before queueing, so a bad row is
    dropped and counted at once instead of being refused by the database later."""
    if call.outcome not in AI_OUTCOMES:
        return f"outcome must be one of {sorted(AI_OUTCOMES)}"
    if min(call.tokens_in, call.tokens_out, call.latency_ms) < 0:
        return "tokens and latency must not be negative"
    return None


def check_emotional_weight(weight: int) -> None:
    if not 0 <= weight <= 100:
        raise ValueError("emotional_weight must be between 0 and 100")


def check_mission_end(state: str) -> None:
    if state not in ("failed", "expired"):
        raise ValueError("a mission ends as 'failed' or 'expired' (completion has its own call)")


def completion_key(mission_id: str, player_id: str) -> str:
    """The idempotency key of a mission's completion: one per (mission, player)."""
    return f"complete:{mission_id}:{player_id}"


def money_event_of(key: str) -> str:
    """The ledger event id derived from an idempotency key (the ledger keys on UUIDs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ganggpt:{key}"))


# --- the one implementation, over any DomainStore ---
class _Players:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def load_or_create(self, name: str) -> PlayerRecord:
        return await self._s.load_or_create_player(name)

    async def get(self, player_id: str) -> PlayerRecord | None:
        return await self._s.get_player(player_id)

    async def names(self, player_ids: Sequence[str]) -> dict[str, str]:
        return await self._s.player_names(player_ids)

    async def change_money(
        self, player_id: str, delta: int, reason: str, *, event_id: str | None = None
    ) -> str:
        return await self._s.change_money(player_id, delta, reason, event_id=event_id)

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        return await self._s.ledger(player_id)


class _Accounts:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def create(self, player_id: str, password_hash: str, email: str | None = None) -> None:
        await self._s.create_account(player_id, password_hash, email)

    async def get(self, player_id: str) -> Account | None:
        return await self._s.account(player_id)


class _Factions:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def create(self, name: str, display_name: str | None = None) -> None:
        await self._s.create_faction(name, display_name)

    async def join(self, player_id: str, faction: str, rank: str = "member") -> None:
        await self._s.set_faction(player_id, faction, rank)

    async def leave(self, player_id: str) -> None:
        await self._s.set_faction(player_id, None)

    async def membership(self, player_id: str) -> Membership | None:
        return await self._s.membership(player_id)

    async def state(self, name: str) -> FactionState | None:
        return await self._s.faction_state(name)

    async def set_relationship(
        self, faction_a: str, faction_b: str, relationship_type: str, strength: int
    ) -> None:
        await self._s.set_faction_relationship(faction_a, faction_b, relationship_type, strength)

    async def members(self, faction: str) -> list[Membership]:
        return await self._s.faction_members(faction)

    async def names(self, after: str | None = None, limit: int = 200) -> list[str]:
        return await self._s.faction_names(after, limit)

    async def shift_relationship(
        self,
        faction_a: str,
        faction_b: str,
        delta: int,
        *,
        reason: str,
        event_id: str | None = None,
        rule: StanceRule = DEFAULT_RULE,
    ) -> str:
        return await self._s.shift_faction_relationship(
            faction_a, faction_b, delta, reason=reason, event_id=event_id, rule=rule
        )


class _Missions:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def create(
        self,
        title: str,
        *,
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str:
        return await self._s.create_mission(
            title,
            description=description,
            generated_by=generated_by,
            difficulty=difficulty,
            estimated_duration_s=estimated_duration_s,
            reward_pool=reward_pool,
            faction_impact=faction_impact,
            expires_at=expires_at,
            mission_id=mission_id,
        )

    async def get(self, mission_id: str) -> Mission | None:
        return await self._s.mission(mission_id)

    async def assign(self, mission_id: str, player_id: str) -> None:
        await self._s.assign_mission(mission_id, player_id)

    async def complete(
        self, mission_id: str, player_id: str, reward: int = 0, *, event_id: str | None = None
    ) -> None:
        await self._s.complete_mission(mission_id, player_id, reward, event_id=event_id)

    async def assignments(self, player_id: str) -> list[MissionAssignment]:
        return await self._s.assignments(player_id)

    async def offer(
        self,
        player_id: str,
        *,
        title: str,
        spec: dict[str, Any],
        description: str | None = None,
        generated_by: str = "ai",
        difficulty: int = 1,
        estimated_duration_s: float | None = None,
        reward_pool: int = 0,
        faction_impact: dict[str, Any] | None = None,
        giver_faction: str | None = None,
        expires_at: float | None = None,
        mission_id: str | None = None,
    ) -> str:
        return await self._s.offer_mission(
            player_id,
            title=title,
            spec=spec,
            description=description,
            generated_by=generated_by,
            difficulty=difficulty,
            estimated_duration_s=estimated_duration_s,
            reward_pool=reward_pool,
            faction_impact=faction_impact,
            giver_faction=giver_faction,
            expires_at=expires_at,
            mission_id=mission_id,
        )

    async def accept(
        self, mission_id: str, player_id: str, *, deadline: float | None = None
    ) -> None:
        await self._s.accept_mission(mission_id, player_id, deadline=deadline)

    async def end(self, mission_id: str, player_id: str, state: str, reason: str) -> None:
        await self._s.end_mission(mission_id, player_id, state, reason)

    async def complete_with_rewards(
        self,
        mission_id: str,
        player_id: str,
        *,
        reward: int,
        shifts: Sequence[tuple[str, str, int]] = (),
        rule: StanceRule = DEFAULT_RULE,
    ) -> None:
        await self._s.complete_with_rewards(
            mission_id, player_id, reward=reward, shifts=shifts, rule=rule
        )

    async def offer_of(self, mission_id: str) -> MissionOffer | None:
        return await self._s.mission_offer(mission_id)

    async def offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        return await self._s.mission_offers(player_id, limit)

    async def open_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        return await self._s.open_mission_offers(limit)

    async def completed(self, mission_id: str, player_id: str) -> bool:
        return await self._s.event_applied(completion_key(mission_id, player_id))


class _Companions:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def save(self, companion: Companion) -> None:
        await self._s.save_companion(companion)

    async def of_player(self, player_id: str) -> list[Companion]:
        return await self._s.companions(player_id)


SEALED = "sealed"  # npc_memories.content of a sealed memory: {"sealed": "enc1:<kid>:..."}


def memory_purpose(npc_id: str) -> str:
    """What a memory's ciphertext is bound to: one copied to another NPC's row fails to open
    instead of being read there. (Not the memory id, which the store makes, nor the player,
    which an edit does not name.)"""
    return f"npc_memories.content:{npc_id}"


class _NpcMemory:
    """With ENCRYPTION_KEY set, what players said to NPCs (a memory's content) is sealed with
    AES-256-GCM before it is queued, so the database, its backups and the outage journal only
    hold ciphertext; the rest of the row (ids, type, weight, times) stays clear for queries.
    Rows written before the key was set, or under a key listed in ENCRYPTION_KEYS_OLD, read
    as before; a memory that cannot be opened (its key is gone) is left out and counted."""

    def __init__(self, s: DomainStore, fields: FieldProtector | None = None) -> None:
        self._s = s
        self._fields = fields if isinstance(fields, AesGcmFields) else None
        self.unreadable = 0  # memories left out because they could not be opened

    def _seal(self, npc_id: str, content: dict[str, Any]) -> dict[str, Any]:
        if self._fields is None:
            return content
        text = orjson.dumps(content).decode()
        return {SEALED: self._fields.seal(text, purpose=memory_purpose(npc_id))}

    def _open(self, memories: list[NpcMemory]) -> list[NpcMemory]:
        out: list[NpcMemory] = []
        for m in memories:
            c = m.content
            sealed = c.get(SEALED) if isinstance(c, dict) and len(c) == 1 else None
            if not isinstance(sealed, str) or not is_sealed(sealed):
                out.append(m)
                continue
            try:
                if self._fields is None:
                    raise DecryptionError("ENCRYPTION_KEY is not set")
                text = self._fields.open(sealed, purpose=memory_purpose(m.npc_id))
                content = orjson.loads(text)
            except (DecryptionError, orjson.JSONDecodeError) as err:
                self.unreadable += 1
                log.warning("npc memory %s left out: %s", m.memory_id, err)
                continue
            out.append(dataclasses.replace(m, content=content))
        return out

    def add(
        self,
        npc_id: str,
        memory_type: str,
        content: dict[str, Any],
        *,
        player_id: str | None = None,
        emotional_weight: int = 50,
        expires_at: float | None = None,
    ) -> str | None:
        check_emotional_weight(emotional_weight)
        return self._s.add_npc_memory(
            npc_id,
            memory_type,
            self._seal(npc_id, content),
            player_id=player_id,
            emotional_weight=emotional_weight,
            expires_at=expires_at,
        )

    async def recent(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return self._open(await self._s.npc_memories(npc_id, player_id, limit))

    async def important(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return self._open(await self._s.important_npc_memories(npc_id, player_id, limit))

    async def decay(self, factor: float, floor: int, created_before: float) -> int:
        if not 0.0 <= factor <= 1.0:
            raise ValueError("decay factor must be between 0 and 1")
        check_emotional_weight(floor)
        return await self._s.decay_npc_memories(round(factor * 1000), floor, created_before)

    async def prune(self, now: float, created_before: float | None = None) -> int:
        return await self._s.prune_npc_memories(now, created_before)

    async def edit(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        if weight is not None:
            check_emotional_weight(weight)
        sealed = None if content is None else self._seal(npc_id, content)
        return await self._s.edit_npc_memory(npc_id, memory_id, weight=weight, content=sealed)

    async def delete(self, npc_id: str, memory_id: str) -> bool:
        return await self._s.delete_npc_memory(npc_id, memory_id)


def check_relationship(rel: NpcRelationship) -> None:
    for name, v in (("affinity", rel.affinity), ("trust", rel.trust)):
        if not -100 <= v <= 100:
            raise ValueError(f"{name} must be between -100 and 100")
    if rel.conversations < 0:
        raise ValueError("conversations must not be negative")
    if not 0 < len(rel.npc_key) <= 100:
        raise ValueError("npc_key must be 1-100 characters")


class _NpcRelationships:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def get(self, npc_key: str, player_id: str) -> NpcRelationship | None:
        return await self._s.npc_relationship(npc_key, player_id)

    async def save(self, rel: NpcRelationship) -> None:
        check_relationship(rel)
        await self._s.save_npc_relationship(rel)


class _AiCalls:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    def record(self, call: AiCall) -> bool:
        return self._s.record_ai_call(call)

    async def recent(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        return await self._s.ai_calls(limit, player_id=player_id, npc_id=npc_id)


class _Audit:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def append(self, entry: AuditEntry) -> None:
        await self._s.append_audit(entry)

    async def recent(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        return await self._s.audit_log(limit, actor=actor)


def build_repositories(
    store: DomainStore,
    auth: AuthStorage,
    unavailable: Callable[[BaseException], bool],
    fields: FieldProtector | None = None,
) -> Repositories:
    """`auth` is the backend itself (these calls go straight to it); `unavailable` tells its
    "database not reachable" errors, which the auth repositories raise as StorageUnavailable.
    `fields` seals sensitive content (ENCRYPTION_KEY; server.auth.crypto)."""
    return Repositories(
        players=_Players(store),
        accounts=_Accounts(store),
        factions=_Factions(store),
        missions=_Missions(store),
        companions=_Companions(store),
        npc_memory=_NpcMemory(store, fields),
        ai_calls=_AiCalls(store),
        audit=_Audit(store),
        npc_relationships=_NpcRelationships(store),
        auth_accounts=AuthAccounts(auth, unavailable),
        auth_sessions=AuthSessions(auth, unavailable),
        notes=PlayerNotes(auth, unavailable),
        warnings=PlayerWarnings(auth, unavailable),
    )
