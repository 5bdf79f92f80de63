"""The storage contract in process memory: the third backend beside PostgreSQL and SQLite.

Why: game logic and the repositories can then be tested in milliseconds with the exact
behaviour of the real backends (idempotent writes, snapshots that only move forward, the money
ledger, name clashes from a replayed journal). tests/persistence/test_contract.py runs against
it unchanged, so it cannot drift from the SQL backends. Nothing survives the process.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.persistence.auth_memory import AuthMemory
from server.persistence.models import (
    Account,
    AiCall,
    AuditEntry,
    Companion,
    FactionRelationship,
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
    Op,
    RecordAiCall,
    SaveCompanion,
    SaveNpcRelationship,
    SaveSnapshots,
    SetFaction,
    SetRelationship,
    ShiftRelationship,
)
from server.persistence.stance import StanceRule, canonical_pair, clamp_strength, stance_after
from server.persistence.storage import StateConflict, UnknownPlayer


class IntegrityError(ValueError):
    """A write broke a uniqueness rule (as the SQL backends' constraint errors do)."""


@dataclass(slots=True)
class _State:
    record: PlayerRecord
    email: str | None
    snapshot_at: float = 0.0
    money_changed_at: float = 0.0


class MemoryStorage(AuthMemory):
    backend = "memory"

    def __init__(self) -> None:
        self._players: dict[str, _State] = {}
        self._by_name: dict[str, str] = {}
        self._accounts: dict[str, Account] = {}
        self._ledger: list[LedgerEntry] = []
        self._events: set[str] = set()
        self._factions: dict[str, tuple[str, float]] = {}
        self._members: dict[str, Membership] = {}
        self._relations: dict[tuple[str, str], FactionRelationship] = {}
        self._missions: dict[str, Mission] = {}
        self._assignments: dict[tuple[str, str], MissionAssignment] = {}
        self._memories: dict[str, NpcMemory] = {}
        self._companions: dict[str, Companion] = {}
        self._sessions: dict[str, ResumeSession] = {}
        self._ai_calls: dict[str, AiCall] = {}
        self._audit: dict[str, AuditEntry] = {}
        self._offers: dict[str, MissionOffer] = {}
        self._applied: set[str] = set()
        self._relationships: dict[tuple[str, str], NpcRelationship] = {}
        self._id = uuid.uuid4().hex
        self._auth_init()
        self._writes: dict[type, Callable[[Any], None]] = {
            CreatePlayer: self._create_player,
            ChangeMoney: self._change_money,
            CreateAccount: self._create_account,
            CreateFaction: self._create_faction,
            SetFaction: self._set_faction,
            SetRelationship: self._set_relationship,
            CreateMission: self._create_mission,
            AssignMission: self._assign_mission,
            CompleteMission: self._complete_mission,
            AddNpcMemory: self._add_npc_memory,
            SaveCompanion: self._save_companion,
            RecordAiCall: self._record_ai_call,
            AppendAudit: self._append_audit,
            ShiftRelationship: self._shift_relationship,
            OfferMission: self._offer_mission,
            AcceptMission: self._accept_mission,
            EndMission: self._end_mission,
            CompleteMissionRewards: self._complete_mission_rewards,
            SaveNpcRelationship: self._save_npc_relationship,
        }

    # --- lifecycle ---
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def migrate(self) -> list[int]:
        return []

    async def schema_version(self) -> int:
        from server.persistence.migrations import load_migrations

        return load_migrations("sqlite")[-1].version

    async def ping(self) -> None:
        return None

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError | OSError | TimeoutError)

    async def maintain(self, now: float) -> None:
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at >= now}
        self._memories = {
            k: m for k, m in self._memories.items() if m.expires_at is None or m.expires_at >= now
        }
        await self.auth_prune(now)

    async def info(self) -> StorageInfo:
        return StorageInfo(self.backend, await self.schema_version(), {})

    async def database_id(self) -> str:
        return self._id

    async def probe_write(self, now: float) -> None:
        return None

    # --- writes: all or nothing, like one SQL transaction ---
    async def apply(self, op: Op) -> None:
        if isinstance(op, SaveSnapshots):
            await self.upsert_snapshots(op.snaps)
            return
        write = self._writes.get(type(op))
        if write is None:
            raise TypeError(f"not a write: {op!r}")
        write(op)

    async def upsert_snapshots(self, snaps: Sequence[PlayerSnapshot]) -> None:
        for s in snaps:
            st = self._players.get(s.player_id)
            if st is None or st.snapshot_at >= s.taken_at:
                continue
            r = st.record
            r.x, r.y, r.z, r.heading = s.x, s.y, s.z, s.heading
            r.health, r.armor, r.has_position = s.health, s.armor, True
            if s.taken_at > st.money_changed_at:
                r.money = s.money
            st.snapshot_at = s.taken_at

    def _player_named(self, name: str) -> bool:
        return name in self._by_name

    def _create_player(self, op: CreatePlayer) -> None:
        if op.player_id in self._players:
            return
        name = op.name
        if name in self._by_name:
            name = f"{op.name}~{op.player_id[:8]}"  # the journal's name clash, as in sql.py
        self._players[op.player_id] = _State(PlayerRecord(op.player_id, name), None)
        self._by_name[name] = op.player_id

    def _money(self, event_id: str, player_id: str, delta: int, reason: str, at: float) -> None:
        if event_id in self._events:
            return
        st = self._players.get(player_id)
        if st is None:
            raise UnknownPlayer(player_id)
        st.record.money += delta
        st.money_changed_at = max(st.money_changed_at, at)
        self._events.add(event_id)
        self._ledger.append(
            LedgerEntry(
                len(self._ledger) + 1,
                event_id,
                player_id,
                delta,
                st.record.money,
                reason[:100],
                at,
            )
        )

    def _change_money(self, op: ChangeMoney) -> None:
        self._money(op.event_id, op.player_id, op.delta, op.reason, op.at)

    def _create_account(self, op: CreateAccount) -> None:
        st = self._players.get(op.player_id)
        if st is None:
            raise UnknownPlayer(op.player_id)
        if op.email is not None and any(
            p.email == op.email for pid, p in self._players.items() if pid != op.player_id
        ):
            raise IntegrityError(f"email {op.email!r} is already used")
        old = self._accounts.get(op.player_id)
        self._accounts[op.player_id] = Account(
            op.player_id, None, op.password_hash, old.created_at if old else op.at
        )
        if op.email is not None:
            st.email = op.email

    def _create_faction(self, op: CreateFaction) -> None:
        self._factions.setdefault(op.name, (op.display_name, op.at))

    def _set_faction(self, op: SetFaction) -> None:
        if op.faction is None:
            self._members.pop(op.player_id, None)
            return
        if op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        if op.faction not in self._factions:
            raise IntegrityError(f"no faction {op.faction!r}")
        old = self._members.get(op.player_id)
        joined = old.joined_at if old is not None and old.faction == op.faction else op.at
        self._members[op.player_id] = Membership(op.player_id, op.faction, op.rank, joined)

    def _set_relationship(self, op: SetRelationship) -> None:
        self._relations[(op.faction_a, op.faction_b)] = FactionRelationship(
            op.faction_a, op.faction_b, op.relationship_type, op.strength, op.at
        )

    def _create_mission(self, op: CreateMission) -> None:
        self._missions.setdefault(
            op.mission_id,
            Mission(
                op.mission_id,
                op.title,
                op.description,
                op.generated_by,
                op.difficulty,
                op.estimated_duration_s,
                op.reward_pool,
                copy.deepcopy(op.faction_impact),
                op.at,
                op.expires_at,
            ),
        )

    def _assign_mission(self, op: AssignMission) -> None:
        if op.mission_id not in self._missions:
            raise IntegrityError(f"no mission {op.mission_id}")
        if op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        self._assignments.setdefault(
            (op.mission_id, op.player_id),
            MissionAssignment(op.mission_id, op.player_id, "active", op.at, None, 0),
        )

    def _complete_mission(self, op: CompleteMission) -> None:
        key = (op.mission_id, op.player_id)
        a = self._assignments.get(key)
        if a is not None and a.status == "completed":
            return  # replayed
        if a is None or a.status != "active":
            raise LookupError(f"no active assignment of mission {op.mission_id} to {op.player_id}")
        if op.reward:
            self._money(op.event_id, op.player_id, op.reward, f"mission:{op.mission_id}", op.at)
        self._assignments[key] = replace(
            a, status="completed", completed_at=op.at, reward_paid=op.reward
        )

    # --- gameplay writes (checked first, then applied: all or nothing) ---
    def _shift(
        self, faction_a: str, faction_b: str, delta: int, rule: StanceRule, at: float
    ) -> None:
        a, b = canonical_pair(faction_a, faction_b)
        old = self._relations.get((a, b))
        strength = clamp_strength((old.strength if old else 0) + delta)
        stance = stance_after(old.relationship_type if old else "neutral", strength, rule)
        self._relations[(a, b)] = FactionRelationship(a, b, stance, strength, at)

    def _shift_relationship(self, op: ShiftRelationship) -> None:
        rule = StanceRule.of(op.rule)
        canonical_pair(op.faction_a, op.faction_b)
        if op.event_id in self._applied:
            return
        self._applied.add(op.event_id)
        self._shift(op.faction_a, op.faction_b, op.delta, rule, op.at)

    def _offer_mission(self, op: OfferMission) -> None:
        if op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        self._create_mission(
            CreateMission(
                op.mission_id,
                op.title,
                op.description,
                op.generated_by,
                op.difficulty,
                op.estimated_duration_s,
                op.reward_pool,
                op.faction_impact,
                op.at,
                op.expires_at,
            )
        )
        self._offers.setdefault(
            op.mission_id,
            MissionOffer(
                op.mission_id,
                op.player_id,
                "offered",
                copy.deepcopy(op.spec),
                op.giver_faction,
                op.at,
                op.expires_at,
            ),
        )

    def _offer_of(self, mission_id: str, player_id: str) -> MissionOffer | None:
        o = self._offers.get(mission_id)
        return o if o is not None and o.player_id == player_id else None

    def _accept_mission(self, op: AcceptMission) -> None:
        o = self._offer_of(op.mission_id, op.player_id)
        if o is not None and o.state == "accepted":
            return  # replayed
        if (
            o is None
            or o.state != "offered"
            or (o.expires_at is not None and o.expires_at <= op.at)
        ):
            state = o.state if o is not None else "unknown"
            raise StateConflict(f"mission {op.mission_id} cannot be accepted: {state}")
        self._assign_mission(AssignMission(op.mission_id, op.player_id, op.at))
        self._offers[op.mission_id] = replace(
            o, state="accepted", accepted_at=op.at, deadline=op.deadline
        )

    def _end_mission(self, op: EndMission) -> None:
        o = self._offer_of(op.mission_id, op.player_id)
        if o is not None and o.state == op.state:
            return  # replayed
        if o is None or o.state not in ("offered", "accepted"):
            state = o.state if o is not None else None
            raise StateConflict(f"mission {op.mission_id} cannot become {op.state}: {state}")
        self._offers[op.mission_id] = replace(
            o, state=op.state, ended_at=op.at, reason=op.reason[:100]
        )
        key = (op.mission_id, op.player_id)
        a = self._assignments.get(key)
        if a is not None and a.status == "active":
            status = "failed" if op.state == "failed" else "abandoned"
            self._assignments[key] = replace(a, status=status, completed_at=op.at)

    def _complete_mission_rewards(self, op: CompleteMissionRewards) -> None:
        if op.key in self._applied:
            return  # completed before: a repeated message or a journal replay
        o = self._offer_of(op.mission_id, op.player_id)
        if o is None or o.state != "accepted":
            state = o.state if o is not None else None
            raise StateConflict(f"mission {op.mission_id} cannot be completed: {state}")
        if op.reward and op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        rule = StanceRule.of(op.rule)
        for a, b, _ in op.shifts:
            canonical_pair(a, b)  # refuse a bad pair before anything changes
        self._applied.add(op.key)
        self._offers[op.mission_id] = replace(o, state="completed", ended_at=op.at)
        key = (op.mission_id, op.player_id)
        assigned = self._assignments.get(key)
        if assigned is not None and assigned.status == "active":
            self._assignments[key] = replace(
                assigned, status="completed", completed_at=op.at, reward_paid=op.reward
            )
        if op.reward:
            self._money(
                op.money_event_id, op.player_id, op.reward, f"mission:{op.mission_id}", op.at
            )
        for fa, fb, delta in op.shifts:
            self._shift(fa, fb, delta, rule, op.at)

    def _add_npc_memory(self, op: AddNpcMemory) -> None:
        if op.player_id is not None and op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        self._memories.setdefault(
            op.memory_id,
            NpcMemory(
                op.memory_id,
                op.npc_id,
                op.player_id,
                op.memory_type,
                copy.deepcopy(op.content),
                op.emotional_weight,
                op.at,
                op.expires_at,
            ),
        )

    def _save_companion(self, op: SaveCompanion) -> None:
        old = self._companions.get(op.companion_id)
        self._companions[op.companion_id] = Companion(
            op.companion_id,
            op.player_id,
            op.name,
            op.companion_type,
            copy.deepcopy(op.personality),
            op.experience_points,
            op.loyalty_level,
            copy.deepcopy(op.memory_data),
            old.created_at if old is not None else op.at,
        )

    def _save_npc_relationship(self, op: SaveNpcRelationship) -> None:
        if op.player_id not in self._players:
            raise UnknownPlayer(op.player_id)
        for name, v in (("affinity", op.affinity), ("trust", op.trust)):
            if not -100 <= v <= 100:
                raise IntegrityError(f"{name} must be between -100 and 100")
        key = (op.npc_key, op.player_id)
        old = self._relationships.get(key)
        if old is not None and old.updated_at > op.at:
            return  # an older write arriving late
        self._relationships[key] = NpcRelationship(
            op.npc_key, op.player_id, op.affinity, op.trust, op.conversations, op.at
        )

    def _record_ai_call(self, op: RecordAiCall) -> None:
        self._ai_calls.setdefault(
            op.call_id,
            AiCall(
                op.provider,
                op.model,
                op.purpose,
                op.prompt_hash,
                op.tokens_in,
                op.tokens_out,
                op.latency_ms,
                op.outcome,  # type: ignore[arg-type]
                op.player_id,
                op.npc_id,
                op.at,
                op.call_id,
            ),
        )

    def _append_audit(self, op: AppendAudit) -> None:
        self._audit.setdefault(
            op.entry_id,
            AuditEntry(
                op.actor,
                op.action,
                op.target,
                copy.deepcopy(op.details),
                op.result,
                op.at,
                op.entry_id,
            ),
        )

    # --- reads ---
    def _copy(self, pid: str) -> PlayerRecord | None:
        st = self._players.get(pid)
        return None if st is None else replace(st.record)

    async def player_by_name(self, name: str) -> PlayerRecord | None:
        pid = self._by_name.get(name)
        return None if pid is None else self._copy(pid)

    async def player(self, player_id: str) -> PlayerRecord | None:
        return self._copy(player_id)

    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for pid in player_ids:
            st = self._players.get(pid)
            if st is None:
                continue
            account = self._auth_accounts.get(pid)
            out[pid] = (account.display_name or account.username) if account else st.record.name
        return out

    async def snapshot_time(self, player_id: str) -> float | None:
        st = self._players.get(player_id)
        if st is None or not st.record.has_position:
            return None
        return st.snapshot_at

    async def account(self, player_id: str) -> Account | None:
        a = self._accounts.get(player_id)
        if a is None:
            return None
        return replace(a, email=self._players[player_id].email)

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        return [e for e in self._ledger if e.player_id == player_id]

    async def membership(self, player_id: str) -> Membership | None:
        return self._members.get(player_id)

    async def faction(self, name: str) -> FactionState | None:
        f = self._factions.get(name)
        if f is None:
            return None
        rels = sorted(
            (r for (a, b), r in self._relations.items() if name in (a, b)),
            key=lambda r: (r.faction_a, r.faction_b),
        )
        members = sum(1 for m in self._members.values() if m.faction == name)
        return FactionState(name, f[0], f[1], members, tuple(rels))

    async def faction_names(self, after: str | None, limit: int) -> list[str]:
        return sorted(n for n in self._factions if after is None or n > after)[:limit]

    async def faction_members(self, faction: str) -> list[Membership]:
        return sorted(
            (m for m in self._members.values() if m.faction == faction),
            key=lambda m: (m.joined_at, m.player_id),
        )

    async def mission_offer(self, mission_id: str) -> MissionOffer | None:
        return copy.deepcopy(self._offers.get(mission_id))

    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        mine = [o for o in self._offers.values() if o.player_id == player_id]
        mine.sort(key=lambda o: o.offered_at, reverse=True)
        return copy.deepcopy(mine[:limit])

    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        open_ = [o for o in self._offers.values() if o.state in ("offered", "accepted")]
        open_.sort(key=lambda o: o.offered_at)
        return copy.deepcopy(open_[:limit])

    async def event_applied(self, event_id: str) -> bool:
        return event_id in self._applied

    async def mission(self, mission_id: str) -> Mission | None:
        return copy.deepcopy(self._missions.get(mission_id))

    async def assignments(self, player_id: str) -> list[MissionAssignment]:
        found = [a for (_, p), a in self._assignments.items() if p == player_id]
        return sorted(found, key=lambda a: a.assigned_at)

    def _live_memories(self, npc_id: str, player_id: str | None) -> list[NpcMemory]:
        now = time.time()
        return [
            m
            for m in self._memories.values()
            if m.npc_id == npc_id
            and (m.expires_at is None or m.expires_at > now)
            and (player_id is None or m.player_id == player_id)
        ]

    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        found = self._live_memories(npc_id, player_id)
        found.sort(key=lambda m: m.created_at, reverse=True)
        return copy.deepcopy(found[:limit])

    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        found = self._live_memories(npc_id, player_id)
        found.sort(key=lambda m: (m.emotional_weight, m.created_at), reverse=True)
        return copy.deepcopy(found[:limit])

    async def decay_npc_memories(self, factor_milli: int, floor: int, created_before: float) -> int:
        n = 0
        for k, m in self._memories.items():
            if m.emotional_weight > floor and m.created_at < created_before:
                w = max(floor, m.emotional_weight * factor_milli // 1000)
                self._memories[k] = replace(m, emotional_weight=w)
                n += 1
        return n

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        keep = {
            k: m
            for k, m in self._memories.items()
            if (m.expires_at is None or m.expires_at > now)
            and (created_before is None or m.created_at >= created_before)
        }
        n = len(self._memories) - len(keep)
        self._memories = keep
        return n

    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        m = self._memories.get(memory_id)
        if m is None or m.npc_id != npc_id:
            return False
        self._memories[memory_id] = replace(
            m,
            emotional_weight=m.emotional_weight if weight is None else int(weight),
            content=m.content if content is None else copy.deepcopy(content),
        )
        return True

    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool:
        m = self._memories.get(memory_id)
        if m is None or m.npc_id != npc_id:
            return False
        del self._memories[memory_id]
        return True

    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None:
        return self._relationships.get((npc_key, player_id))

    async def companions(self, player_id: str) -> list[Companion]:
        found = [c for c in self._companions.values() if c.player_id == player_id]
        return copy.deepcopy(sorted(found, key=lambda c: (c.created_at, c.companion_id)))

    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        found = [
            c
            for c in self._ai_calls.values()
            if (player_id is None or c.player_id == player_id)
            and (npc_id is None or c.npc_id == npc_id)
        ]
        found.sort(key=lambda c: (-c.created_at, c.call_id))
        return found[:limit]

    async def audit_log(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        found = [e for e in self._audit.values() if actor is None or e.actor == actor]
        found.sort(key=lambda e: (-e.created_at, e.entry_id))
        return copy.deepcopy(found[:limit])

    # --- sessions ---
    async def save_session(self, s: ResumeSession) -> None:
        self._sessions[s.token] = replace(s, data=copy.deepcopy(s.data))

    async def take_session(self, token: str, now: float) -> ResumeSession | None:
        s = self._sessions.pop(token, None)
        if s is None or s.expires_at < now:
            return None
        return s
