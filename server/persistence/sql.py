"""The queries both SQL backends share, written once.

Why one query set: PostgreSQL and SQLite (3.35+) both speak `INSERT ... ON CONFLICT`, `RETURNING`
and `CASE`, so the only real differences are how a value is passed (PostgreSQL wants datetimes
and intervals, SQLite gets unix seconds) and how a connection and a transaction are obtained.
Those are the hooks a backend fills in; every rule of the storage contract (idempotent writes,
snapshots that never go back in time, the money ledger) lives here, in one place.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import orjson

from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.persistence.auth_sql import AuthSql, as_uuid
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

SHIFT_ATTEMPTS = 20  # compare-and-set rounds before a relationship shift gives up


class Conn(Protocol):
    """The four calls the queries need; an asyncpg connection has them as they are."""

    async def execute(self, sql: str, *args: Any) -> Any: ...
    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> Any: ...
    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Any: ...


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _loads(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str | bytes):
        return orjson.loads(v)
    return v


_PLAYER_COLS = (
    "SELECT p.id, p.username, s.x, s.y, s.z, s.heading, s.health, s.armor, s.money,"
    " s.has_position FROM players p LEFT JOIN player_state s ON s.player_id = p.id"
)

_SNAPSHOT_SQL = (
    "UPDATE player_state SET x = $2, y = $3, z = $4, heading = $5, health = $6, armor = $7,"
    " money = CASE WHEN $9 > money_changed_at THEN $8 ELSE money END,"
    " has_position = TRUE, snapshot_at = $9, last_seen = $9"
    " WHERE player_id = $1 AND snapshot_at < $9"
)


class SqlStorage(AuthSql):
    """Shared implementation of `Storage`; subclasses give connections and value conversions."""

    backend = "sql"

    # --- hooks a backend provides ---
    def _tx(self) -> AbstractAsyncContextManager[Conn]:
        """A connection inside a transaction that commits on exit."""
        raise NotImplementedError

    def _read(self) -> AbstractAsyncContextManager[Conn]:
        """A connection to the primary, for reads that must see the latest writes."""
        raise NotImplementedError

    def _replica(self) -> AbstractAsyncContextManager[Conn]:
        """A connection for reads that tolerate replica lag (the primary when none)."""
        return self._read()

    def ts(self, v: float) -> Any:
        return v

    def ts_out(self, v: Any) -> float:
        return float(v)

    def iv(self, seconds: float | None) -> Any:
        return seconds

    def iv_out(self, v: Any) -> float | None:
        return None if v is None else float(v)

    def uid(self, v: Any) -> str:
        return str(v)

    async def _before_npc_memory(self, c: Conn, at: float) -> None:
        """Make room for a memory created at `at` (PostgreSQL: its month's partition)."""
        return None

    async def _changes(self, c: Conn, status: Any) -> int:
        """Rows changed by the last statement on `c` (`status`: what `execute` returned)."""
        r = await c.fetchrow("SELECT changes() AS n")
        return int(r["n"])

    def _ts_opt(self, v: float | None) -> Any:
        return None if v is None else self.ts(v)

    def _ts_out_opt(self, v: Any) -> float | None:
        return None if v is None else self.ts_out(v)

    # --- writes ---
    async def apply(self, op: Op) -> None:
        if isinstance(op, SaveSnapshots):
            await self.upsert_snapshots(op.snaps)
            return
        async with self._tx() as c:
            await self._apply_in(c, op)

    async def upsert_snapshots(self, snaps: Sequence[PlayerSnapshot]) -> None:
        if not snaps:
            return
        rows = [
            (
                s.player_id,
                s.x,
                s.y,
                s.z,
                s.heading,
                s.health,
                s.armor,
                s.money,
                self.ts(s.taken_at),
            )
            for s in snaps
        ]
        async with self._tx() as c:
            await c.executemany(_SNAPSHOT_SQL, rows)

    async def _apply_in(self, c: Conn, op: Op) -> None:
        write = _WRITES.get(type(op))
        if write is None:  # SaveSnapshots is handled by apply(); anything else is a bug
            raise TypeError(f"not a write: {op!r}")
        await write(self, c, op)

    async def _change_money(self, c: Conn, op: ChangeMoney) -> None:
        await self._money(c, op.event_id, op.player_id, op.delta, op.reason, op.at)

    async def _create_account(self, c: Conn, op: CreateAccount) -> None:
        await c.execute(
            "INSERT INTO accounts (player_id, password_hash, created_at, updated_at)"
            " VALUES ($1, $2, $3, $3) ON CONFLICT (player_id) DO UPDATE SET"
            " password_hash = excluded.password_hash, updated_at = excluded.updated_at",
            op.player_id,
            op.password_hash,
            self.ts(op.at),
        )
        if op.email is not None:
            await c.execute("UPDATE players SET email = $2 WHERE id = $1", op.player_id, op.email)

    async def _create_faction(self, c: Conn, op: CreateFaction) -> None:
        await c.execute(
            "INSERT INTO factions (name, display_name, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO NOTHING",
            op.name,
            op.display_name,
            self.ts(op.at),
        )

    async def _set_faction(self, c: Conn, op: SetFaction) -> None:
        if op.faction is None:
            await c.execute("DELETE FROM faction_members WHERE player_id = $1", op.player_id)
            return
        await c.execute(
            "INSERT INTO faction_members (player_id, faction, rank, joined_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (player_id) DO UPDATE SET"
            " rank = excluded.rank, joined_at = CASE WHEN faction_members.faction ="
            " excluded.faction THEN faction_members.joined_at ELSE excluded.joined_at END,"
            " faction = excluded.faction",
            op.player_id,
            op.faction,
            op.rank,
            self.ts(op.at),
        )

    async def _set_relationship(self, c: Conn, op: SetRelationship) -> None:
        await c.execute(
            "INSERT INTO faction_relationships (id, faction_a, faction_b, relationship_type,"
            " strength, last_updated) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (faction_a, faction_b) DO UPDATE SET"
            " relationship_type = excluded.relationship_type, strength = excluded.strength,"
            " last_updated = excluded.last_updated",
            str(uuid.uuid4()),
            op.faction_a,
            op.faction_b,
            op.relationship_type,
            op.strength,
            self.ts(op.at),
        )

    async def _create_mission(self, c: Conn, op: CreateMission) -> None:
        await c.execute(
            "INSERT INTO missions (id, title, description, generated_by, difficulty,"
            " estimated_duration, reward_pool, faction_impact, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            op.mission_id,
            op.title,
            op.description,
            op.generated_by,
            op.difficulty,
            self.iv(op.estimated_duration_s),
            op.reward_pool,
            None if op.faction_impact is None else _dumps(op.faction_impact),
            self.ts(op.at),
            self._ts_opt(op.expires_at),
        )

    async def _assign_mission(self, c: Conn, op: AssignMission) -> None:
        await c.execute(
            "INSERT INTO mission_assignments (mission_id, player_id, status, assigned_at)"
            " VALUES ($1, $2, 'active', $3) ON CONFLICT (mission_id, player_id) DO NOTHING",
            op.mission_id,
            op.player_id,
            self.ts(op.at),
        )

    async def _add_npc_memory(self, c: Conn, op: AddNpcMemory) -> None:
        await self._before_npc_memory(c, op.at)
        await c.execute(
            "INSERT INTO npc_memories (id, npc_id, player_id, memory_type, content,"
            " emotional_weight, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            op.memory_id,
            op.npc_id,
            op.player_id,
            op.memory_type,
            _dumps(op.content),
            op.emotional_weight,
            self.ts(op.at),
            self._ts_opt(op.expires_at),
        )

    async def _save_companion(self, c: Conn, op: SaveCompanion) -> None:
        await c.execute(
            "INSERT INTO companions (id, player_id, name, companion_type, personality,"
            " experience_points, loyalty_level, memory_data, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET"
            " name = excluded.name, companion_type = excluded.companion_type,"
            " personality = excluded.personality,"
            " experience_points = excluded.experience_points,"
            " loyalty_level = excluded.loyalty_level, memory_data = excluded.memory_data",
            op.companion_id,
            op.player_id,
            op.name,
            op.companion_type,
            _dumps(op.personality),
            op.experience_points,
            op.loyalty_level,
            None if op.memory_data is None else _dumps(op.memory_data),
            self.ts(op.at),
        )

    async def _save_npc_relationship(self, c: Conn, op: SaveNpcRelationship) -> None:
        await c.execute(
            "INSERT INTO npc_relationships (npc_key, player_id, affinity, trust, conversations,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (npc_key, player_id)"
            " DO UPDATE SET affinity = excluded.affinity, trust = excluded.trust,"
            " conversations = excluded.conversations, updated_at = excluded.updated_at"
            " WHERE npc_relationships.updated_at <= excluded.updated_at",
            op.npc_key,
            op.player_id,
            op.affinity,
            op.trust,
            op.conversations,
            self.ts(op.at),
        )

    async def _record_ai_call(self, c: Conn, op: RecordAiCall) -> None:
        await c.execute(
            "INSERT INTO ai_calls (id, provider, model, purpose, prompt_hash, tokens_in,"
            " tokens_out, latency_ms, outcome, player_id, npc_id, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (id) DO NOTHING",
            op.call_id,
            op.provider,
            op.model,
            op.purpose,
            op.prompt_hash,
            op.tokens_in,
            op.tokens_out,
            op.latency_ms,
            op.outcome,
            op.player_id,
            op.npc_id,
            self.ts(op.at),
        )

    async def _append_audit(self, c: Conn, op: AppendAudit) -> None:
        await c.execute(
            "INSERT INTO admin_audit (id, actor, action, target, details, result, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            op.entry_id,
            op.actor,
            op.action,
            op.target,
            _dumps(op.details),
            op.result,
            self.ts(op.at),
        )

    async def _create_player(self, c: Conn, op: CreatePlayer) -> None:
        row = await c.fetchrow(
            "INSERT INTO players (id, username, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING id",
            op.player_id,
            op.name,
            self.ts(op.at),
        )
        if row is None:
            same = await c.fetchrow("SELECT 1 FROM players WHERE id = $1", op.player_id)
            if same is None:
                # The name was taken by another player while this creation waited in the
                # journal (database outage): keep the acknowledged player under a unique name.
                await c.execute(
                    "INSERT INTO players (id, username, created_at) VALUES ($1, $2, $3)",
                    op.player_id,
                    f"{op.name}~{op.player_id[:8]}",
                    self.ts(op.at),
                )
        await c.execute(
            "INSERT INTO player_state (player_id, last_seen) VALUES ($1, $2)"
            " ON CONFLICT (player_id) DO NOTHING",
            op.player_id,
            self.ts(op.at),
        )

    async def _money(
        self, c: Conn, event_id: str, player_id: str, delta: int, reason: str, at: float
    ) -> None:
        if await c.fetchrow("SELECT 1 FROM money_ledger WHERE event_id = $1", event_id):
            return  # already applied (journal replay)
        row = await c.fetchrow(
            "UPDATE player_state SET money = money + $2, money_changed_at = CASE WHEN"
            " $3 > money_changed_at THEN $3 ELSE money_changed_at END"
            " WHERE player_id = $1 RETURNING money",
            player_id,
            delta,
            self.ts(at),
        )
        if row is None:
            raise UnknownPlayer(player_id)
        await c.execute(
            "INSERT INTO money_ledger (event_id, player_id, delta, balance_after, reason,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            event_id,
            player_id,
            delta,
            int(row["money"]),
            reason[:100],
            self.ts(at),
        )

    async def _complete_mission(self, c: Conn, op: CompleteMission) -> None:
        done = await c.fetchrow(
            "UPDATE mission_assignments SET status = 'completed', completed_at = $3,"
            " reward_paid = $4 WHERE mission_id = $1 AND player_id = $2 AND status = 'active'"
            " RETURNING mission_id",
            op.mission_id,
            op.player_id,
            self.ts(op.at),
            op.reward,
        )
        if done is None:
            row = await c.fetchrow(
                "SELECT status FROM mission_assignments WHERE mission_id = $1 AND player_id = $2",
                op.mission_id,
                op.player_id,
            )
            if row is not None and row["status"] == "completed":
                return  # replayed
            raise LookupError(f"no active assignment of mission {op.mission_id} to {op.player_id}")
        if op.reward:
            await self._money(
                c, op.event_id, op.player_id, op.reward, f"mission:{op.mission_id}", op.at
            )

    # --- gameplay writes: faction shifts and the mission lifecycle ---
    async def _claim(self, c: Conn, event_id: str, kind: str, at: float) -> bool:
        """Claim an idempotency key in this transaction; False when it was claimed before."""
        row = await c.fetchrow(
            "INSERT INTO applied_events (event_id, kind, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            event_id[:200],
            kind,
            self.ts(at),
        )
        return row is not None

    async def _shift(
        self, c: Conn, faction_a: str, faction_b: str, delta: int, rule: StanceRule, at: float
    ) -> None:
        a, b = canonical_pair(faction_a, faction_b)
        await c.execute(
            "INSERT INTO faction_relationships (id, faction_a, faction_b, relationship_type,"
            " strength, last_updated) VALUES ($1, $2, $3, 'neutral', 0, $4)"
            " ON CONFLICT (faction_a, faction_b) DO NOTHING",
            str(uuid.uuid4()),
            a,
            b,
            self.ts(at),
        )
        # Compare-and-set: the stance depends on the previous one (hysteresis), so the new
        # values are computed here and written only if nobody changed the row meanwhile.
        for _ in range(SHIFT_ATTEMPTS):
            row = await c.fetchrow(
                "SELECT strength, relationship_type FROM faction_relationships"
                " WHERE faction_a = $1 AND faction_b = $2",
                a,
                b,
            )
            old = int(row["strength"] or 0)
            old_type = str(row["relationship_type"])
            new = clamp_strength(old + delta)
            done = await c.fetchrow(
                "UPDATE faction_relationships SET strength = $3, relationship_type = $4,"
                " last_updated = $5 WHERE faction_a = $1 AND faction_b = $2"
                " AND COALESCE(strength, 0) = $6 AND relationship_type = $7 RETURNING strength",
                a,
                b,
                new,
                stance_after(old_type, new, rule),
                self.ts(at),
                old,
                old_type,
            )
            if done is not None:
                return
        raise RuntimeError(f"relationship {a}/{b} kept changing; shift not applied")

    async def _shift_relationship(self, c: Conn, op: ShiftRelationship) -> None:
        if await self._claim(c, op.event_id, "shift_relationship", op.at):
            await self._shift(
                c, op.faction_a, op.faction_b, op.delta, StanceRule.of(op.rule), op.at
            )

    async def _offer_mission(self, c: Conn, op: OfferMission) -> None:
        await self._create_mission(
            c,
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
            ),
        )
        await c.execute(
            "INSERT INTO mission_offers (mission_id, player_id, state, spec, giver_faction,"
            " offered_at, expires_at) VALUES ($1, $2, 'offered', $3, $4, $5, $6)"
            " ON CONFLICT (mission_id) DO NOTHING",
            op.mission_id,
            op.player_id,
            _dumps(op.spec),
            op.giver_faction,
            self.ts(op.at),
            self._ts_opt(op.expires_at),
        )

    async def _offer_state(self, c: Conn, mission_id: str, player_id: str) -> str | None:
        row = await c.fetchrow(
            "SELECT state FROM mission_offers WHERE mission_id = $1 AND player_id = $2",
            mission_id,
            player_id,
        )
        return None if row is None else str(row["state"])

    async def _accept_mission(self, c: Conn, op: AcceptMission) -> None:
        done = await c.fetchrow(
            "UPDATE mission_offers SET state = 'accepted', accepted_at = $3, deadline = $4"
            " WHERE mission_id = $1 AND player_id = $2 AND state = 'offered'"
            " AND (expires_at IS NULL OR expires_at > $3) RETURNING mission_id",
            op.mission_id,
            op.player_id,
            self.ts(op.at),
            self._ts_opt(op.deadline),
        )
        if done is None:
            state = await self._offer_state(c, op.mission_id, op.player_id)
            if state == "accepted":
                return  # replayed
            raise StateConflict(f"mission {op.mission_id} cannot be accepted: {state or 'unknown'}")
        await self._assign_mission(c, AssignMission(op.mission_id, op.player_id, op.at))

    async def _end_mission(self, c: Conn, op: EndMission) -> None:
        done = await c.fetchrow(
            "UPDATE mission_offers SET state = $3, ended_at = $4, reason = $5"
            " WHERE mission_id = $1 AND player_id = $2 AND state IN ('offered', 'accepted')"
            " RETURNING mission_id",
            op.mission_id,
            op.player_id,
            op.state,
            self.ts(op.at),
            op.reason[:100],
        )
        if done is None:
            state = await self._offer_state(c, op.mission_id, op.player_id)
            if state == op.state:
                return  # replayed
            raise StateConflict(f"mission {op.mission_id} cannot become {op.state}: {state}")
        await c.execute(
            "UPDATE mission_assignments SET status = $3, completed_at = $4"
            " WHERE mission_id = $1 AND player_id = $2 AND status = 'active'",
            op.mission_id,
            op.player_id,
            "failed" if op.state == "failed" else "abandoned",
            self.ts(op.at),
        )

    async def _complete_mission_rewards(self, c: Conn, op: CompleteMissionRewards) -> None:
        if not await self._claim(c, op.key, "complete_mission", op.at):
            return  # completed before: a repeated message or a journal replay
        done = await c.fetchrow(
            "UPDATE mission_offers SET state = 'completed', ended_at = $3"
            " WHERE mission_id = $1 AND player_id = $2 AND state = 'accepted'"
            " RETURNING mission_id",
            op.mission_id,
            op.player_id,
            self.ts(op.at),
        )
        if done is None:  # raising rolls the claim back too
            state = await self._offer_state(c, op.mission_id, op.player_id)
            raise StateConflict(f"mission {op.mission_id} cannot be completed: {state}")
        await c.execute(
            "UPDATE mission_assignments SET status = 'completed', completed_at = $3,"
            " reward_paid = $4 WHERE mission_id = $1 AND player_id = $2 AND status = 'active'",
            op.mission_id,
            op.player_id,
            self.ts(op.at),
            op.reward,
        )
        if op.reward:
            await self._money(
                c, op.money_event_id, op.player_id, op.reward, f"mission:{op.mission_id}", op.at
            )
        rule = StanceRule.of(op.rule)
        for a, b, delta in op.shifts:
            await self._shift(c, a, b, delta, rule, op.at)

    # --- players ---
    def _player(self, r: Any) -> PlayerRecord:
        has = r["has_position"]
        return PlayerRecord(
            player_id=self.uid(r["id"]),
            name=str(r["username"]),
            x=float(r["x"] or 0.0),
            y=float(r["y"] or 0.0),
            z=float(r["z"] or 0.0),
            heading=float(r["heading"] or 0.0),
            health=100 if r["health"] is None else int(r["health"]),
            armor=int(r["armor"] or 0),
            money=int(r["money"] or 0),
            has_position=bool(has) if has is not None else False,
        )

    async def player_by_name(self, name: str) -> PlayerRecord | None:
        async with self._read() as c:
            r = await c.fetchrow(_PLAYER_COLS + " WHERE p.username = $1", name)
        return None if r is None else self._player(r)

    async def player(self, player_id: str) -> PlayerRecord | None:
        async with self._read() as c:
            r = await c.fetchrow(_PLAYER_COLS + " WHERE p.id = $1", player_id)
        return None if r is None else self._player(r)

    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(player_ids))
        if not ids:
            return {}
        marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
        async with self._replica() as c:
            rows = await c.fetch(
                "SELECT p.id, COALESCE(a.display_name, a.username, p.username) AS name"
                " FROM players p LEFT JOIN accounts a ON a.player_id = p.id"
                f" WHERE p.id IN ({marks})",
                *ids,
            )
        return {self.uid(r["id"]): str(r["name"]) for r in rows}

    async def snapshot_time(self, player_id: str) -> float | None:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT snapshot_at, has_position FROM player_state WHERE player_id = $1",
                player_id,
            )
        if r is None or not r["has_position"]:
            return None
        return self.ts_out(r["snapshot_at"])

    async def account(self, player_id: str) -> Account | None:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT a.player_id, p.email, a.password_hash, a.created_at FROM accounts a"
                " JOIN players p ON p.id = a.player_id WHERE a.player_id = $1",
                player_id,
            )
        if r is None:
            return None
        return Account(
            self.uid(r["player_id"]),
            r["email"],
            str(r["password_hash"]),
            self.ts_out(r["created_at"]),
        )

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT id, event_id, player_id, delta, balance_after, reason, created_at"
                " FROM money_ledger WHERE player_id = $1 ORDER BY id",
                player_id,
            )
        return [
            LedgerEntry(
                int(r["id"]),
                self.uid(r["event_id"]),
                self.uid(r["player_id"]),
                int(r["delta"]),
                int(r["balance_after"]),
                str(r["reason"]),
                self.ts_out(r["created_at"]),
            )
            for r in rows
        ]

    # --- factions, missions, NPCs, companions ---
    async def membership(self, player_id: str) -> Membership | None:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT player_id, faction, rank, joined_at FROM faction_members"
                " WHERE player_id = $1",
                player_id,
            )
        if r is None:
            return None
        return Membership(
            self.uid(r["player_id"]), str(r["faction"]), str(r["rank"]), self.ts_out(r["joined_at"])
        )

    async def faction(self, name: str) -> FactionState | None:
        async with self._replica() as c:
            r = await c.fetchrow(
                "SELECT f.name, f.display_name, f.created_at,"
                " (SELECT count(*) FROM faction_members m WHERE m.faction = f.name) AS members"
                " FROM factions f WHERE f.name = $1",
                name,
            )
            if r is None:
                return None
            rels = await c.fetch(
                "SELECT faction_a, faction_b, relationship_type, strength, last_updated"
                " FROM faction_relationships WHERE faction_a = $1 OR faction_b = $1"
                " ORDER BY faction_a, faction_b",
                name,
            )
        return FactionState(
            name=str(r["name"]),
            display_name=str(r["display_name"]),
            created_at=self.ts_out(r["created_at"]),
            members=int(r["members"]),
            relationships=tuple(
                FactionRelationship(
                    str(x["faction_a"]),
                    str(x["faction_b"]),
                    str(x["relationship_type"]),
                    int(x["strength"] or 0),
                    self._ts_out_opt(x["last_updated"]) or 0.0,
                )
                for x in rels
            ),
        )

    async def mission(self, mission_id: str) -> Mission | None:
        async with self._replica() as c:
            r = await c.fetchrow(
                "SELECT id, title, description, generated_by, difficulty, estimated_duration,"
                " reward_pool, faction_impact, created_at, expires_at FROM missions WHERE id = $1",
                mission_id,
            )
        if r is None:
            return None
        return Mission(
            mission_id=self.uid(r["id"]),
            title=str(r["title"]),
            description=r["description"],
            generated_by=str(r["generated_by"]),
            difficulty=int(r["difficulty"]),
            estimated_duration_s=self.iv_out(r["estimated_duration"]),
            reward_pool=int(r["reward_pool"] or 0),
            faction_impact=_loads(r["faction_impact"]),
            created_at=self._ts_out_opt(r["created_at"]) or 0.0,
            expires_at=self._ts_out_opt(r["expires_at"]),
        )

    async def assignments(self, player_id: str) -> list[MissionAssignment]:
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT mission_id, player_id, status, assigned_at, completed_at, reward_paid"
                " FROM mission_assignments WHERE player_id = $1 ORDER BY assigned_at",
                player_id,
            )
        return [
            MissionAssignment(
                self.uid(r["mission_id"]),
                self.uid(r["player_id"]),
                str(r["status"]),
                self.ts_out(r["assigned_at"]),
                self._ts_out_opt(r["completed_at"]),
                int(r["reward_paid"]),
            )
            for r in rows
        ]

    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        return await self._memories(npc_id, player_id, limit, "created_at DESC")

    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Weightiest first (newest first among equals), expired ones left out."""
        return await self._memories(
            npc_id, player_id, limit, "emotional_weight DESC, created_at DESC"
        )

    async def _memories(
        self, npc_id: str, player_id: str | None, limit: int, order: str
    ) -> list[NpcMemory]:
        sql = (
            "SELECT id, npc_id, player_id, memory_type, content, emotional_weight, created_at,"
            " expires_at FROM npc_memories WHERE npc_id = $1"
            " AND (expires_at IS NULL OR expires_at > $2)"
        )
        args: list[Any] = [npc_id, self.ts(time.time())]
        if player_id is not None:
            sql += " AND player_id = $4"
            args += [limit, player_id]
        else:
            args.append(limit)
        sql += f" ORDER BY {order} LIMIT $3"
        async with self._replica() as c:
            rows = await c.fetch(sql, *args)
        return [
            NpcMemory(
                memory_id=self.uid(r["id"]),
                npc_id=str(r["npc_id"]),
                player_id=None if r["player_id"] is None else self.uid(r["player_id"]),
                memory_type=str(r["memory_type"]),
                content=_loads(r["content"]),
                emotional_weight=int(r["emotional_weight"] or 0),
                created_at=self.ts_out(r["created_at"]),
                expires_at=self._ts_out_opt(r["expires_at"]),
            )
            for r in rows
        ]

    async def decay_npc_memories(self, factor_milli: int, floor: int, created_before: float) -> int:
        """weight = max(floor, weight * factor_milli // 1000) for memories created before
        `created_before` and still above `floor`; returns how many changed. Integer
        arithmetic so that both backends round the same way (down)."""
        async with self._tx() as c:
            status = await c.execute(
                "UPDATE npc_memories SET emotional_weight = CASE"
                " WHEN emotional_weight * $1 / 1000 < $2 THEN $2"
                " ELSE emotional_weight * $1 / 1000 END"
                " WHERE emotional_weight > $2 AND created_at < $3",
                int(factor_milli),
                int(floor),
                self.ts(created_before),
            )
            return await self._changes(c, status)

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        """Delete expired memories and, when `created_before` is given, every memory created
        before it (retention); returns how many went."""
        n = 0
        async with self._tx() as c:
            status = await c.execute(
                "DELETE FROM npc_memories WHERE expires_at IS NOT NULL AND expires_at <= $1",
                self.ts(now),
            )
            n += await self._changes(c, status)
            if created_before is not None:
                status = await c.execute(
                    "DELETE FROM npc_memories WHERE created_at < $1", self.ts(created_before)
                )
                n += await self._changes(c, status)
        return n

    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        mid = as_uuid(memory_id)
        if mid is None:
            return False
        sets: list[str] = ["npc_id = npc_id"]
        args: list[Any] = [mid, npc_id]
        if weight is not None:
            args.append(int(weight))
            sets.append(f"emotional_weight = ${len(args)}")
        if content is not None:
            args.append(_dumps(content))
            sets.append(f"content = ${len(args)}")
        async with self._tx() as c:
            status = await c.execute(
                f"UPDATE npc_memories SET {', '.join(sets)} WHERE id = $1 AND npc_id = $2", *args
            )
            return await self._changes(c, status) > 0

    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool:
        mid = as_uuid(memory_id)
        if mid is None:
            return False
        async with self._tx() as c:
            status = await c.execute(
                "DELETE FROM npc_memories WHERE id = $1 AND npc_id = $2", mid, npc_id
            )
            return await self._changes(c, status) > 0

    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT npc_key, player_id, affinity, trust, conversations, updated_at"
                " FROM npc_relationships WHERE npc_key = $1 AND player_id = $2",
                npc_key,
                player_id,
            )
        if r is None:
            return None
        return NpcRelationship(
            str(r["npc_key"]),
            self.uid(r["player_id"]),
            int(r["affinity"]),
            int(r["trust"]),
            int(r["conversations"]),
            self.ts_out(r["updated_at"]),
        )

    async def companions(self, player_id: str) -> list[Companion]:
        async with self._replica() as c:
            rows = await c.fetch(
                "SELECT id, player_id, name, companion_type, personality, experience_points,"
                " loyalty_level, memory_data, created_at FROM companions WHERE player_id = $1"
                " ORDER BY created_at, id",
                player_id,
            )
        return [
            Companion(
                companion_id=self.uid(r["id"]),
                player_id=self.uid(r["player_id"]),
                name=str(r["name"]),
                companion_type=str(r["companion_type"]),
                personality=_loads(r["personality"]),
                experience_points=int(r["experience_points"] or 0),
                loyalty_level=int(r["loyalty_level"] or 0),
                memory_data=_loads(r["memory_data"]),
                created_at=self._ts_out_opt(r["created_at"]) or 0.0,
            )
            for r in rows
        ]

    # --- gameplay reads ---
    async def faction_names(self, after: str | None, limit: int) -> list[str]:
        async with self._replica() as c:
            if after is None:
                rows = await c.fetch("SELECT name FROM factions ORDER BY name LIMIT $1", limit)
            else:
                rows = await c.fetch(
                    "SELECT name FROM factions WHERE name > $1 ORDER BY name LIMIT $2", after, limit
                )
        return [str(r["name"]) for r in rows]

    async def faction_members(self, faction: str) -> list[Membership]:
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT player_id, faction, rank, joined_at FROM faction_members"
                " WHERE faction = $1 ORDER BY joined_at, player_id",
                faction,
            )
        return [
            Membership(
                self.uid(r["player_id"]),
                str(r["faction"]),
                str(r["rank"]),
                self.ts_out(r["joined_at"]),
            )
            for r in rows
        ]

    _OFFER_COLS = (
        "SELECT mission_id, player_id, state, spec, giver_faction, offered_at, expires_at,"
        " accepted_at, deadline, ended_at, reason FROM mission_offers"
    )

    def _offer(self, r: Any) -> MissionOffer:
        return MissionOffer(
            mission_id=self.uid(r["mission_id"]),
            player_id=self.uid(r["player_id"]),
            state=str(r["state"]),
            spec=_loads(r["spec"]) or {},
            giver_faction=r["giver_faction"],
            offered_at=self.ts_out(r["offered_at"]),
            expires_at=self._ts_out_opt(r["expires_at"]),
            accepted_at=self._ts_out_opt(r["accepted_at"]),
            deadline=self._ts_out_opt(r["deadline"]),
            ended_at=self._ts_out_opt(r["ended_at"]),
            reason=r["reason"],
        )

    async def mission_offer(self, mission_id: str) -> MissionOffer | None:
        async with self._read() as c:
            r = await c.fetchrow(self._OFFER_COLS + " WHERE mission_id = $1", mission_id)
        return None if r is None else self._offer(r)

    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        async with self._read() as c:
            rows = await c.fetch(
                self._OFFER_COLS + " WHERE player_id = $1 ORDER BY offered_at DESC LIMIT $2",
                player_id,
                limit,
            )
        return [self._offer(r) for r in rows]

    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        async with self._read() as c:
            rows = await c.fetch(
                self._OFFER_COLS + " WHERE state IN ('offered', 'accepted')"
                " ORDER BY offered_at LIMIT $1",
                limit,
            )
        return [self._offer(r) for r in rows]

    async def event_applied(self, event_id: str) -> bool:
        async with self._read() as c:
            r = await c.fetchrow("SELECT 1 FROM applied_events WHERE event_id = $1", event_id)
        return r is not None

    # --- sessions ---
    async def save_session(self, s: ResumeSession) -> None:
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO resume_sessions (token, player_id, name, expires_at, data)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE SET"
                " player_id = excluded.player_id, name = excluded.name,"
                " expires_at = excluded.expires_at, data = excluded.data",
                s.token,
                s.player_id,
                s.name,
                self.ts(s.expires_at),
                _dumps(s.data),
            )

    async def take_session(self, token: str, now: float) -> ResumeSession | None:
        async with self._tx() as c:
            r = await c.fetchrow(
                "DELETE FROM resume_sessions WHERE token = $1"
                " RETURNING player_id, name, expires_at, data",
                token,
            )
        if r is None:
            return None
        expires = self.ts_out(r["expires_at"])
        if expires < now:
            return None
        return ResumeSession(
            token=token,
            player_id=self.uid(r["player_id"]),
            name=str(r["name"]),
            expires_at=expires,
            data=_loads(r["data"]) or {},
        )

    async def _purge(self, now: float) -> None:
        async with self._tx() as c:
            await c.execute("DELETE FROM resume_sessions WHERE expires_at < $1", self.ts(now))
            await c.execute(
                "DELETE FROM npc_memories WHERE expires_at IS NOT NULL AND expires_at < $1",
                self.ts(now),
            )
        await self.auth_prune(now)

    # --- AI calls and the audit log ---
    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        sql = (
            "SELECT id, provider, model, purpose, prompt_hash, tokens_in, tokens_out,"
            " latency_ms, outcome, player_id, npc_id, created_at FROM ai_calls WHERE TRUE"
        )
        args: list[Any] = [limit]
        if player_id is not None:
            args.append(player_id)
            sql += f" AND player_id = ${len(args)}"
        if npc_id is not None:
            args.append(npc_id)
            sql += f" AND npc_id = ${len(args)}"
        sql += " ORDER BY created_at DESC, id LIMIT $1"
        async with self._replica() as c:
            rows = await c.fetch(sql, *args)
        return [
            AiCall(
                provider=str(r["provider"]),
                model=str(r["model"]),
                purpose=str(r["purpose"]),
                prompt_hash=str(r["prompt_hash"]),
                tokens_in=int(r["tokens_in"]),
                tokens_out=int(r["tokens_out"]),
                latency_ms=int(r["latency_ms"]),
                outcome=r["outcome"],
                player_id=None if r["player_id"] is None else self.uid(r["player_id"]),
                npc_id=r["npc_id"],
                created_at=self.ts_out(r["created_at"]),
                call_id=self.uid(r["id"]),
            )
            for r in rows
        ]

    async def audit_log(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        sql = (
            "SELECT id, actor, action, target, details, result, created_at FROM admin_audit"
            " WHERE TRUE"
        )
        args: list[Any] = [limit]
        if actor is not None:
            args.append(actor)
            sql += " AND actor = $2"
        sql += " ORDER BY created_at DESC, id LIMIT $1"
        async with self._read() as c:
            rows = await c.fetch(sql, *args)
        return [
            AuditEntry(
                actor=str(r["actor"]),
                action=str(r["action"]),
                target=r["target"],
                details=_loads(r["details"]) or {},
                result=str(r["result"]),
                created_at=self.ts_out(r["created_at"]),
                entry_id=self.uid(r["id"]),
            )
            for r in rows
        ]

    # --- identity and the write probe ---
    async def database_id(self) -> str:
        async with self._read() as c:
            r = await c.fetchrow("SELECT value FROM ganggpt_meta WHERE key = 'database_id'")
        if r is None:
            raise LookupError("ganggpt_meta has no database_id: run the migrations")
        return str(r["value"])

    async def probe_write(self, now: float) -> None:
        """A tiny real write: what tells health the database still takes writes when the game
        makes none (a read-only file, a full disk, a stuck lock)."""
        async with self._tx() as c:
            await c.execute(
                "INSERT INTO ganggpt_meta (key, value) VALUES ('write_probe', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                repr(now),
            )


_Write = Callable[[SqlStorage, Conn, Any], Awaitable[None]]

# One entry per kind of write: adding a write is one method and one line here.
_WRITES: dict[type, _Write] = {
    CreatePlayer: SqlStorage._create_player,
    ChangeMoney: SqlStorage._change_money,
    CreateAccount: SqlStorage._create_account,
    CreateFaction: SqlStorage._create_faction,
    SetFaction: SqlStorage._set_faction,
    SetRelationship: SqlStorage._set_relationship,
    CreateMission: SqlStorage._create_mission,
    AssignMission: SqlStorage._assign_mission,
    CompleteMission: SqlStorage._complete_mission,
    AddNpcMemory: SqlStorage._add_npc_memory,
    SaveCompanion: SqlStorage._save_companion,
    RecordAiCall: SqlStorage._record_ai_call,
    AppendAudit: SqlStorage._append_audit,
    ShiftRelationship: SqlStorage._shift_relationship,
    OfferMission: SqlStorage._offer_mission,
    AcceptMission: SqlStorage._accept_mission,
    EndMission: SqlStorage._end_mission,
    CompleteMissionRewards: SqlStorage._complete_mission_rewards,
    SaveNpcRelationship: SqlStorage._save_npc_relationship,
}
