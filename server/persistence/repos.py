"""Typed repositories: how game code reaches stored data, one small contract per domain.

`persistence.repos.players / .accounts / .factions / .missions / .companions / .npc_memory /
.ai_calls / .audit` (and the auth library's `.auth_accounts / .auth_sessions` with the admin
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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
    NpcMemory,
)


# --- the contracts game code sees ---
class PlayerRepository(Protocol):
    async def load_or_create(self, name: str) -> PlayerRecord: ...
    async def get(self, player_id: str) -> PlayerRecord | None: ...
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


# --- the one implementation, over any DomainStore ---
class _Players:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def load_or_create(self, name: str) -> PlayerRecord:
        return await self._s.load_or_create_player(name)

    async def get(self, player_id: str) -> PlayerRecord | None:
        return await self._s.get_player(player_id)

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


class _Companions:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

    async def save(self, companion: Companion) -> None:
        await self._s.save_companion(companion)

    async def of_player(self, player_id: str) -> list[Companion]:
        return await self._s.companions(player_id)


class _NpcMemory:
    def __init__(self, s: DomainStore) -> None:
        self._s = s

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
            content,
            player_id=player_id,
            emotional_weight=emotional_weight,
            expires_at=expires_at,
        )

    async def recent(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return await self._s.npc_memories(npc_id, player_id, limit)


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
    store: DomainStore, auth: AuthStorage, unavailable: Callable[[BaseException], bool]
) -> Repositories:
    """`auth` is the backend itself (these calls go straight to it); `unavailable` tells its
    "database not reachable" errors, which the auth repositories raise as StorageUnavailable."""
    return Repositories(
        players=_Players(store),
        accounts=_Accounts(store),
        factions=_Factions(store),
        missions=_Missions(store),
        companions=_Companions(store),
        npc_memory=_NpcMemory(store),
        ai_calls=_AiCalls(store),
        audit=_Audit(store),
        auth_accounts=AuthAccounts(auth, unavailable),
        auth_sessions=AuthSessions(auth, unavailable),
        notes=PlayerNotes(auth, unavailable),
        warnings=PlayerWarnings(auth, unavailable),
    )
