"""In-memory persistence (PERSISTENCE=off, and tests of the realtime core that are not about
storage): the `GamePersistence` seam and every repository, nothing survives the process.

Built on `MemoryStorage`, the in-memory backend of the storage contract, so the repositories
behave here exactly as over PostgreSQL or SQLite (the same contract tests run against it);
writes apply at once, there is no write-behind, journal or cache to wait for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from server.auth.crypto import FieldProtector
from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.persistence.memory_storage import MemoryStorage
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
)
from server.persistence.ops import (
    AcceptMission,
    AddNpcMemory,
    AppendAudit,
    AssignMission,
    ChangeMoney,
    CompleteMission,
    CompleteMissionRewards,
    CreateAccount,
    CreateFaction,
    CreateMission,
    CreatePlayer,
    EndMission,
    OfferMission,
    RecordAiCall,
    SaveCompanion,
    SaveNpcRelationship,
    SetFaction,
    SetRelationship,
    ShiftRelationship,
)
from server.persistence.repos import (
    Repositories,
    build_repositories,
    check_ai_call,
    check_emotional_weight,
    check_mission_end,
    completion_key,
    money_event_of,
)
from server.persistence.stance import DEFAULT_RULE, StanceRule, canonical_pair


class MemoryPersistence:
    def __init__(self, fields: FieldProtector | None = None) -> None:
        self.storage = MemoryStorage()
        self.repos: Repositories = build_repositories(
            self, self.storage, self.storage.is_unavailable, fields
        )
        self.snapshots = 0  # snapshots applied (tests read it)
        self.ai_calls_dropped = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # --- the GamePersistence seam ---
    async def load_or_create_player(self, name: str) -> PlayerRecord:
        found = await self.storage.player_by_name(name)
        if found is not None:
            return found
        pid = str(uuid.uuid4())
        await self.storage.apply(CreatePlayer(pid, name, time.time()))
        created = await self.storage.player(pid)
        assert created is not None
        return created

    def submit_snapshots(self, snaps: list[PlayerSnapshot]) -> None:
        # MemoryStorage.upsert_snapshots never suspends: run it to its end right here, on
        # the tick, without a task per call.
        _run_now(self.storage.upsert_snapshots(snaps))
        self.snapshots += len(snaps)

    async def save_session(self, s: ResumeSession) -> None:
        await self.storage.save_session(s)

    async def take_session(self, token: str) -> ResumeSession | None:
        return await self.storage.take_session(token, time.time())

    def health(self) -> dict[str, Any]:
        return {
            "database": {"status": "ok", "backend": "memory"},
            "redis": {"status": "ok", "backend": "in-process"},
        }

    # --- what the repositories use (repos.DomainStore) ---
    async def get_player(self, player_id: str) -> PlayerRecord | None:
        return await self.storage.player(player_id)

    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]:
        return await self.storage.player_names(player_ids)

    async def change_money(
        self, player_id: str, delta: int, reason: str, *, event_id: str | None = None
    ) -> str:
        eid = event_id or str(uuid.uuid4())
        await self.storage.apply(ChangeMoney(eid, player_id, int(delta), reason, time.time()))
        return eid

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        return await self.storage.ledger(player_id)

    async def create_account(
        self, player_id: str, password_hash: str, email: str | None = None
    ) -> None:
        await self.storage.apply(CreateAccount(player_id, email, password_hash, time.time()))

    async def account(self, player_id: str) -> Account | None:
        return await self.storage.account(player_id)

    async def create_faction(self, name: str, display_name: str | None = None) -> None:
        await self.storage.apply(CreateFaction(name, display_name or name, time.time()))

    async def set_faction(self, player_id: str, faction: str | None, rank: str = "member") -> None:
        await self.storage.apply(SetFaction(player_id, faction, rank, time.time()))

    async def membership(self, player_id: str) -> Membership | None:
        return await self.storage.membership(player_id)

    async def faction_state(self, name: str) -> FactionState | None:
        return await self.storage.faction(name)

    async def set_faction_relationship(
        self, faction_a: str, faction_b: str, relationship_type: str, strength: int
    ) -> None:
        if not -100 <= strength <= 100:
            raise ValueError("strength must be between -100 and 100")
        await self.storage.apply(
            SetRelationship(faction_a, faction_b, relationship_type, strength, time.time())
        )

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
    ) -> str:
        if not 1 <= difficulty <= 10:
            raise ValueError("difficulty must be between 1 and 10")
        mid = mission_id or str(uuid.uuid4())
        await self.storage.apply(
            CreateMission(
                mid,
                title,
                description,
                generated_by,
                difficulty,
                estimated_duration_s,
                reward_pool,
                faction_impact,
                time.time(),
                expires_at,
            )
        )
        return mid

    async def mission(self, mission_id: str) -> Mission | None:
        return await self.storage.mission(mission_id)

    async def assign_mission(self, mission_id: str, player_id: str) -> None:
        await self.storage.apply(AssignMission(mission_id, player_id, time.time()))

    async def complete_mission(
        self, mission_id: str, player_id: str, reward: int = 0, *, event_id: str | None = None
    ) -> None:
        await self.storage.apply(
            CompleteMission(
                mission_id, player_id, int(reward), event_id or str(uuid.uuid4()), time.time()
            )
        )

    async def assignments(self, player_id: str) -> list[MissionAssignment]:
        return await self.storage.assignments(player_id)

    # --- gameplay: relationship shifts and the mission lifecycle ---
    async def shift_faction_relationship(
        self,
        faction_a: str,
        faction_b: str,
        delta: int,
        *,
        reason: str,
        event_id: str | None = None,
        rule: StanceRule = DEFAULT_RULE,
    ) -> str:
        a, b = canonical_pair(faction_a, faction_b)
        eid = event_id or str(uuid.uuid4())
        await self.storage.apply(
            ShiftRelationship(eid, a, b, int(delta), rule.as_tuple(), reason[:50], time.time())
        )
        return eid

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
    ) -> str:
        if not 1 <= difficulty <= 10:
            raise ValueError("difficulty must be between 1 and 10")
        mid = mission_id or str(uuid.uuid4())
        await self.storage.apply(
            OfferMission(
                mid,
                player_id,
                title[:255],
                description,
                generated_by[:50],
                difficulty,
                estimated_duration_s,
                int(reward_pool),
                faction_impact,
                spec,
                giver_faction,
                time.time(),
                expires_at,
            )
        )
        return mid

    async def accept_mission(
        self, mission_id: str, player_id: str, *, deadline: float | None = None
    ) -> None:
        await self.storage.apply(AcceptMission(mission_id, player_id, deadline, time.time()))

    async def end_mission(self, mission_id: str, player_id: str, state: str, reason: str) -> None:
        check_mission_end(state)
        await self.storage.apply(EndMission(mission_id, player_id, state, reason, time.time()))

    async def complete_with_rewards(
        self,
        mission_id: str,
        player_id: str,
        *,
        reward: int,
        shifts: Sequence[tuple[str, str, int]] = (),
        rule: StanceRule = DEFAULT_RULE,
    ) -> None:
        key = completion_key(mission_id, player_id)
        await self.storage.apply(
            CompleteMissionRewards(
                key,
                mission_id,
                player_id,
                int(reward),
                money_event_of(key),
                tuple((*canonical_pair(a, b), int(d)) for a, b, d in shifts),
                rule.as_tuple(),
                time.time(),
            )
        )

    async def faction_members(self, faction: str) -> list[Membership]:
        return await self.storage.faction_members(faction)

    async def faction_names(self, after: str | None, limit: int) -> list[str]:
        return await self.storage.faction_names(after, limit)

    async def mission_offer(self, mission_id: str) -> MissionOffer | None:
        return await self.storage.mission_offer(mission_id)

    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        return await self.storage.mission_offers(player_id, limit)

    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        return await self.storage.open_mission_offers(limit)

    async def event_applied(self, event_id: str) -> bool:
        return await self.storage.event_applied(event_id)

    async def save_companion(self, c: Companion) -> None:
        await self.storage.apply(
            SaveCompanion(
                c.companion_id,
                c.player_id,
                c.name,
                c.companion_type,
                c.personality,
                c.experience_points,
                c.loyalty_level,
                c.memory_data,
                c.created_at or time.time(),
            )
        )

    async def companions(self, player_id: str) -> list[Companion]:
        return await self.storage.companions(player_id)

    def add_npc_memory(
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
        mid = str(uuid.uuid4())
        op = AddNpcMemory(
            mid, npc_id, player_id, memory_type, content, emotional_weight, time.time(), expires_at
        )
        try:
            _run_now(self.storage.apply(op))
        except Exception:
            return None
        return mid

    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return await self.storage.npc_memories(npc_id, player_id, limit)

    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return await self.storage.important_npc_memories(npc_id, player_id, limit)

    async def decay_npc_memories(self, factor_milli: int, floor: int, created_before: float) -> int:
        return await self.storage.decay_npc_memories(factor_milli, floor, created_before)

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        return await self.storage.prune_npc_memories(now, created_before)

    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        return await self.storage.edit_npc_memory(npc_id, memory_id, weight=weight, content=content)

    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool:
        return await self.storage.delete_npc_memory(npc_id, memory_id)

    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None:
        return await self.storage.npc_relationship(npc_key, player_id)

    async def save_npc_relationship(self, rel: NpcRelationship) -> None:
        await self.storage.apply(
            SaveNpcRelationship(
                rel.npc_key,
                rel.player_id,
                rel.affinity,
                rel.trust,
                rel.conversations,
                rel.updated_at or time.time(),
            )
        )

    def record_ai_call(self, call: AiCall) -> bool:
        if check_ai_call(call) is not None:
            self.ai_calls_dropped += 1
            return False
        op = RecordAiCall(
            call.call_id,
            call.provider,
            call.model,
            call.purpose,
            call.prompt_hash,
            call.tokens_in,
            call.tokens_out,
            call.latency_ms,
            call.outcome,
            call.player_id,
            call.npc_id,
            call.created_at,
        )
        _run_now(self.storage.apply(op))
        return True

    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        return await self.storage.ai_calls(limit, player_id=player_id, npc_id=npc_id)

    async def append_audit(self, entry: AuditEntry) -> None:
        await self.storage.apply(
            AppendAudit(
                entry.entry_id,
                entry.actor,
                entry.action,
                entry.target,
                entry.details,
                entry.result,
                entry.created_at,
            )
        )

    async def audit_log(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        return await self.storage.audit_log(limit, actor=actor)


def _run_now(coro: Any) -> None:
    """Run a MemoryStorage coroutine that never suspends to its end, synchronously (for the
    non-blocking calls, which must not await)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("memory storage suspended")  # pragma: no cover - it never awaits
