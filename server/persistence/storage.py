"""The storage contract: what any database backend must do for the persistence service.

Why a contract of its own, below `GamePersistence`: the service (write-behind, journal, cache,
outage handling) is written once; PostgreSQL and SQLite only have to store and fetch. The same
contract test suite runs against every backend, so they cannot drift apart.

Rules every backend keeps:
- `apply` runs one write in one transaction and is idempotent (the journal may replay it).
- `upsert_snapshots` never moves a player's state back in time and ignores unknown players.
- Errors meaning "the database is not reachable right now" are recognised by
  `is_unavailable`; anything else is a real error of that write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.persistence.auth_storage import AuthStorage
from server.persistence.models import (
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
    StorageInfo,
)
from server.persistence.ops import Op


class PersistenceError(Exception):
    """A write could not be made durable anywhere (database and journal both failed)."""


class StorageUnavailable(PersistenceError):
    """A read needs the database and the database is down (a retry later may work)."""


class UnknownPlayer(LookupError):
    """A write names a player that does not exist."""


class StateConflict(LookupError):
    """A write's precondition does not hold (e.g. accepting a mission that is not offered)."""


class Storage(AuthStorage, Protocol):
    backend: str

    async def open(self) -> None:
        """Connect. Raises when the database is unreachable (`is_unavailable` says so)."""
        ...

    async def close(self) -> None: ...

    async def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied now."""
        ...

    async def schema_version(self) -> int: ...

    async def ping(self) -> None:
        """A cheap round trip; raises if the database cannot be reached."""
        ...

    def is_unavailable(self, exc: BaseException) -> bool: ...

    async def maintain(self, now: float) -> None:
        """Periodic housekeeping: partitions ahead, expired sessions."""
        ...

    async def info(self) -> StorageInfo: ...

    # --- writes ---
    async def apply(self, op: Op) -> None: ...

    async def upsert_snapshots(self, snaps: Sequence[PlayerSnapshot]) -> None: ...

    # --- players ---
    async def player_by_name(self, name: str) -> PlayerRecord | None: ...

    async def player(self, player_id: str) -> PlayerRecord | None: ...

    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]:
        """The name each stored player is shown by, in one read: an account's display name
        (its username when it has none), else the `players` row's name. Unknown ids are
        left out."""
        ...

    async def snapshot_time(self, player_id: str) -> float | None:
        """When the stored snapshot of this player was taken (None: never)."""
        ...

    async def account(self, player_id: str) -> Account | None: ...

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        """Money movements in the order they were applied."""
        ...

    # --- factions, missions, NPCs, companions (replica reads where configured) ---
    async def membership(self, player_id: str) -> Membership | None: ...

    async def faction(self, name: str) -> FactionState | None: ...

    async def faction_names(self, after: str | None, limit: int) -> list[str]:
        """Every faction's name in order, those after `after` (a page of at most `limit`)."""
        ...

    async def mission(self, mission_id: str) -> Mission | None: ...

    async def assignments(self, player_id: str) -> list[MissionAssignment]: ...

    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Newest first, expired ones left out."""
        ...

    async def companions(self, player_id: str) -> list[Companion]: ...

    # --- gameplay: faction members, mission offers, claimed event keys ---
    async def faction_members(self, faction: str) -> list[Membership]:
        """Members in the order they joined."""
        ...

    async def mission_offer(self, mission_id: str) -> MissionOffer | None: ...

    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        """Newest offer first."""
        ...

    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        """Offers still offered or accepted, oldest first (restored by the tracker at start)."""
        ...

    async def event_applied(self, event_id: str) -> bool:
        """Whether an idempotency key has been claimed (`applied_events`)."""
        ...

    # --- NPC memory upkeep and relationships (gameplay memory service) ---
    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Weightiest first (newest first among equals), expired ones left out."""
        ...

    async def decay_npc_memories(self, factor_milli: int, floor: int, created_before: float) -> int:
        """weight = max(floor, weight * factor_milli // 1000) for memories created before
        `created_before` and above `floor`; returns how many changed."""
        ...

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        """Delete expired memories and those created before `created_before` (PostgreSQL:
        whole old monthly partitions are dropped); returns how many went."""
        ...

    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        """Change one memory of `npc_id` (the admin console); False if there is no such one."""
        ...

    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool:
        """Delete one memory of `npc_id` (the admin console); False if there is no such one."""
        ...

    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None: ...

    # --- AI calls and the admin audit log ---
    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        """Newest first."""
        ...

    async def audit_log(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        """Newest first."""
        ...

    # --- identity and health ---
    async def database_id(self) -> str:
        """The random id this database got when its schema was created (ganggpt_meta)."""
        ...

    async def probe_write(self, now: float) -> None:
        """One small real write; raises when the database refuses writes."""
        ...

    # --- resume sessions (used when no Redis is configured) ---
    async def save_session(self, s: ResumeSession) -> None: ...

    async def take_session(self, token: str, now: float) -> ResumeSession | None: ...
