"""`PersistenceService`: the real `GamePersistence`, and the calls the gameplay features use.

Why one object composing storage, writer, journal, cache and sessions: the game core must see
one seam (`GamePersistence`) and never know whether PostgreSQL or SQLite is behind it, whether
Redis is up, or whether the database is in an outage. The rules the game can rely on:

- `submit_snapshots` (tick side) never blocks or raises; state reaches the database within
  SNAPSHOT_INTERVAL while it is up (RPO), and during an outage within PERSIST_SPILL_AFTER in
  the journal.
- Every `await`ed write (player creation, money, factions, missions, accounts, companions) is
  durable when it returns: committed in the database, or during an outage fsync'd to the
  journal. Tell the client only after it returns.
- Money: apply the change to the live player first, then `await change_money(...)`. A snapshot
  taken before the change cannot then overwrite the new balance (the database keeps money from
  snapshots only when they are newer than the last money change).
- Reads during an outage are served from what this process knows (players it has seen, cache);
  anything else raises `StorageUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

from cachetools import LRUCache
from prometheus_client import CollectorRegistry

from config import Config
from config.settings import database_location, default_journal_path
from server.auth.crypto import fields_from_config
from server.cache.keys import CacheKeys
from server.cache.l1 import L1Cache
from server.cache.redis_cache import RedisCache
from server.cache.tiered import TieredCache
from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.persistence.journal import Journal
from server.persistence.metrics import PersistenceMetrics
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
    RecordAiCall,
    SaveCompanion,
    SaveNpcRelationship,
    SetFaction,
    SetRelationship,
    ShiftRelationship,
)
from server.persistence.owner import (
    Owner,
    PostgresOwner,
    StartupError,
    database_label,
    make_owner,
)
from server.persistence.pg_storage import PostgresStorage
from server.persistence.repos import (
    Repositories,
    build_repositories,
    check_ai_call,
    check_emotional_weight,
    check_mission_end,
    completion_key,
    money_event_of,
)
from server.persistence.sessions import SessionStore
from server.persistence.sqlite_storage import SqliteStorage
from server.persistence.stance import DEFAULT_RULE, StanceRule, canonical_pair
from server.persistence.storage import Storage, StorageUnavailable
from server.persistence.writer import WriteBehind

log = logging.getLogger("ganggpt.persistence")

MAINTENANCE_EVERY = 3600.0  # partitions ahead, expired sessions and memories


def make_storage(config: Config) -> Storage:
    """PostgreSQL when DATABASE_URL is set, embedded SQLite otherwise."""
    if config.database_url:
        url = config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        read = config.database_read_url
        if read:
            read = read.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresStorage(
            url,
            read_url=read,
            pool_size=config.database_pool_size,
            timeout_ms=config.database_timeout,
            partitions_ahead=config.npc_memory_partitions_ahead,
        )
    return SqliteStorage(config.sqlite_path, timeout_ms=config.database_timeout)


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(PlayerRecord))
PROFILE_BATCH = 128  # profiles refreshed per loop turn after a snapshot flush


def _record_dict(r: PlayerRecord) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copy made 1,000 profiles cost ~15 ms of loop time.
    return {f: getattr(r, f) for f in _RECORD_FIELDS}


def _with_snapshot(r: PlayerRecord, s: PlayerSnapshot, money: bool) -> PlayerRecord:
    return PlayerRecord(
        r.player_id,
        r.name,
        s.x,
        s.y,
        s.z,
        s.heading,
        s.health,
        s.armor,
        s.money if money else r.money,
        True,
    )


class PersistenceService:
    """Implements `GamePersistence` (server/persistence/api.py) for real."""

    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry | None = None,
        *,
        storage: Storage | None = None,
    ) -> None:
        self.config = config
        self.metrics = PersistenceMetrics(registry)
        self.storage = storage if storage is not None else make_storage(config)
        self.journal = Journal(default_journal_path(config))
        self.owner: Owner | None = make_owner(config, exclusive=False) if storage is None else None
        self.keys = CacheKeys(config.redis_prefix)
        self.redis: RedisCache | None = None
        if config.redis_url:
            self.redis = RedisCache(
                config.redis_url,
                password=config.redis_password,
                timeout=config.redis_timeout,
                metrics=self.metrics,
                retry_max=config.persist_retry_max,
            )
        self.cache = TieredCache(
            L1Cache(config.cache_l1_size, config.cache_l1_ttl),
            self.redis,
            self.metrics,
            ttl=config.redis_ttl,
            keys=self.keys,
        )
        self.writer = WriteBehind(
            self.storage,
            self.journal,
            self.metrics,
            interval=config.snapshot_interval,
            queue_size=config.persist_queue_size,
            spill_after=config.persist_spill_after,
            retry_max=config.persist_retry_max,
            on_flushed=self._flushed,
            prepare=self._prepare,
            probe_every=config.database_write_probe_interval,
            stuck_after=config.database_write_stuck_after,
        )
        self.sessions = SessionStore(self.storage, self.writer, self.redis, self.keys)
        self.metrics.bind(
            queue_depth=self.writer.queue_depth,
            oldest_unpersisted=self.writer.oldest_age,
            journal_records=lambda: self.journal.records,
            journal_bytes=lambda: self.journal.size,
        )
        # What this process knows about players: serves logins during a database outage.
        self._known: LRUCache[str, PlayerRecord] = LRUCache(maxsize=100_000)
        self._names: LRUCache[str, str] = LRUCache(maxsize=100_000)
        self._money_at: LRUCache[str, float] = LRUCache(maxsize=100_000)
        self._name_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._migrated = False
        self.repos: Repositories = build_repositories(
            self, self.storage, self.storage.is_unavailable, fields_from_config(config)
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self.started = False

    # --- lifecycle ---
    async def start(self) -> None:
        """Take the database, open and migrate it, replay a journal left by a crash, serve.

        The database must be reachable at start: it is retried for DATABASE_START_TIMEOUT
        seconds, then StartupError (one line naming the variable). A server that never reached
        its database would otherwise accept players and journal forever while its health check
        said healthy. Outages after a good start are handled (journal, health "degraded").
        """
        try:
            if isinstance(self.owner, PostgresOwner):
                await self._reach(self.owner.acquire)
            elif self.owner is not None:
                await self.owner.acquire()
            await self._reach(self._open_and_prepare)
            db_id = await self.storage.database_id()
            await self.journal.open(db_id, database_location(self.config))
            if self.journal.records:
                log.warning("journal holds %d records from a previous run", self.journal.records)
                await self.writer.replay_all()
        except BaseException:
            await self._stop_quietly()
            raise
        await self.cache.start()
        self.writer.start()
        self._maintenance = asyncio.create_task(self._maintain_loop(), name="ganggpt-maintenance")
        self.started = True

    async def _open_and_prepare(self) -> None:
        await self.storage.open()
        await self._prepare()

    async def _reach(self, step: Any) -> None:
        """Run `step` until it works, retrying while the database is unreachable, for at most
        DATABASE_START_TIMEOUT seconds."""
        timeout = self.config.database_start_timeout
        deadline = time.monotonic() + timeout
        delay = 0.25
        while True:
            try:
                await step()
                return
            except StartupError:
                raise
            except Exception as err:
                why = f"{type(err).__name__}: {err}".strip()
                if not self.storage.is_unavailable(err) and not isinstance(err, OSError):
                    raise StartupError(
                        f"{database_label(self.config)}: cannot use the database: {why}"
                    ) from None
                if time.monotonic() + delay > deadline:
                    raise StartupError(
                        f"{database_label(self.config)}: database not reachable after"
                        f" {timeout:g} s (DATABASE_START_TIMEOUT): {why}"
                    ) from None
                log.warning("database not reachable yet, retrying: %s", why)
                with contextlib.suppress(Exception):
                    await self.storage.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.persist_retry_max)

    async def _stop_quietly(self) -> None:
        """Undo a start that failed: nothing may keep the process alive or the lock held."""
        with contextlib.suppress(Exception):
            await self.storage.close()
        with contextlib.suppress(Exception):
            await self.journal.close()
        if self.owner is not None:
            with contextlib.suppress(Exception):
                await self.owner.release()

    async def _prepare(self) -> None:
        if not self._migrated:
            applied = await self.storage.migrate()
            if applied:
                log.info("%s schema migrated: versions %s", self.storage.backend, applied)
            self._migrated = True
            await self.storage.maintain(time.time())

    async def _maintain_loop(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_EVERY)
            if self.writer.outage:
                continue
            try:
                await self.storage.maintain(time.time())
            except Exception as err:
                log.warning("maintenance failed: %s", err)

    async def close(self) -> None:
        """Flush every write (to the database, or the journal when it cannot) and disconnect."""
        if self._maintenance is not None:
            self._maintenance.cancel()
        await self.writer.close(timeout=max(self.config.drain_timeout, 1.0))
        for t in list(self._tasks):
            t.cancel()
        await self.cache.close()
        with contextlib.suppress(Exception):
            await self.storage.close()
        await self.journal.close()
        if self.owner is not None:
            await self.owner.release()
        self.started = False

    async def abandon(self) -> None:
        """Stop as a killed process would: nothing flushed, the journal left as it is.

        For crash-recovery tests; connections are dropped so the test process does not leak.
        """
        if self._maintenance is not None:
            self._maintenance.cancel()
        self.writer.abandon()
        for t in list(self._tasks):
            t.cancel()
        self.journal.abandon()
        await self.cache.close()
        with contextlib.suppress(Exception):
            await self.storage.close()
        if isinstance(self.owner, PostgresOwner):
            self.owner.abandon()
        elif self.owner is not None:
            await self.owner.release()  # the kernel would drop a dead process' file lock
        self.started = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- players (the GamePersistence seam) ---
    def _name_lock(self, name: str) -> asyncio.Lock:
        lock = self._name_locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._name_locks[name] = lock
        return lock

    async def load_or_create_player(self, name: str) -> PlayerRecord:
        async with self._name_lock(name):  # one creation per name, even with concurrent joins
            return await self._load_or_create(name)

    async def _load_or_create(self, name: str) -> PlayerRecord:
        record: PlayerRecord | None = None
        looked_up = False
        if not self.writer.outage:
            try:
                record = await self.storage.player_by_name(name)
                looked_up = True
            except Exception as err:
                if not self.storage.is_unavailable(err):
                    raise
                self.writer.mark_unavailable(f"{type(err).__name__}: {err}")
        if record is None and not looked_up:
            pid = self._names.get(name)
            known = self._known.get(pid) if pid else None
            if known is not None:
                record = dataclasses.replace(known)
        if record is None:
            # New player (or, during an outage, a name this process has never seen: it is
            # created provisionally; see CreatePlayer for what happens on a name clash).
            pid = str(uuid.uuid4())
            await self.writer.commit(CreatePlayer(pid, name, time.time()))
            record = PlayerRecord(player_id=pid, name=name)
        snap = self.writer.unflushed(record.player_id)
        if snap is not None:
            money_ok = snap.taken_at > self._money_at.get(record.player_id, 0.0)
            record = _with_snapshot(record, snap, money_ok)
        self._remember(record)
        self._spawn(
            self.cache.set(self.keys.player_profile(record.player_id), _record_dict(record))
        )
        return dataclasses.replace(record)

    def _remember(self, r: PlayerRecord) -> None:
        self._known[r.player_id] = dataclasses.replace(r)
        self._names[r.name] = r.player_id

    async def get_player(self, player_id: str) -> PlayerRecord | None:
        """Latest known state of a player by id (cache, then database, plus unflushed state)."""
        found, raw = await self.cache.get(self.keys.player_profile(player_id))
        record: PlayerRecord | None = None
        if found and isinstance(raw, dict):
            with contextlib.suppress(TypeError):
                record = PlayerRecord(**raw)
        if record is None:
            record = await self._read(self.storage.player(player_id), self._known.get(player_id))
        if record is None:
            return None
        snap = self.writer.unflushed(player_id)
        if snap is not None:
            record = _with_snapshot(
                record, snap, snap.taken_at > self._money_at.get(player_id, 0.0)
            )
        # Known from now on, as if loaded by name: an account's player is loaded by id at the
        # join, and its profile must follow flushes and outlive an outage like any other.
        self._remember(record)
        return dataclasses.replace(record)

    async def player_names(self, player_ids: Sequence[str]) -> dict[str, str]:
        """Shown names of stored players by id (one read; during an outage, an empty answer:
        names are decoration, never worth an error)."""
        result: dict[str, str] = await self._read(self.storage.player_names(player_ids), {})
        return result

    def submit_snapshots(self, snaps: list[PlayerSnapshot]) -> None:
        self.writer.submit_snapshots(snaps)

    def _flushed(self, snaps: Sequence[PlayerSnapshot]) -> None:
        """Snapshots are in the database: refresh the profiles other instances read."""
        with contextlib.suppress(RuntimeError):
            self._spawn(self._refresh_profiles(snaps))

    async def _refresh_profiles(self, snaps: Sequence[PlayerSnapshot]) -> None:
        # In batches with a yield between: a flush of 1,000 players must not hold the loop
        # (and so delay a tick) for the whole refresh.
        for i in range(0, len(snaps), PROFILE_BATCH):
            if i:
                await asyncio.sleep(0)
            items: dict[str, Any] = {}
            for s in snaps[i : i + PROFILE_BATCH]:
                known = self._known.get(s.player_id)
                if known is None:
                    continue
                money_ok = s.taken_at > self._money_at.get(s.player_id, 0.0)
                rec = _with_snapshot(known, s, money_ok)
                self._known[s.player_id] = rec
                items[self.keys.player_profile(s.player_id)] = _record_dict(rec)
            if items:
                await self.cache.set_many(items)

    async def _read(self, coro: Any, fallback: Any = None) -> Any:
        if self.writer.outage:
            coro.close()
            if fallback is not None:
                return fallback
            raise StorageUnavailable(self.writer.last_error or "database unavailable")
        try:
            return await coro
        except Exception as err:
            if not self.storage.is_unavailable(err):
                raise
            self.writer.mark_unavailable(f"{type(err).__name__}: {err}")
            if fallback is not None:
                return fallback
            raise StorageUnavailable(str(err)) from err

    # --- resume sessions (the GamePersistence seam) ---
    async def save_session(self, s: ResumeSession) -> None:
        await self.sessions.save(s)

    async def take_session(self, token: str) -> ResumeSession | None:
        return await self.sessions.take(token)

    # --- critical writes: durable when they return ---
    async def change_money(
        self, player_id: str, delta: int, reason: str, *, event_id: str | None = None
    ) -> str:
        """Move money (reward, purchase, fine). Returns the event id (pass it again to retry
        safely: the ledger applies an event id once)."""
        at = time.time()
        self._money_at[player_id] = at
        eid = event_id or str(uuid.uuid4())
        await self.writer.commit(ChangeMoney(eid, player_id, int(delta), reason, at))
        known = self._known.get(player_id)
        if known is not None:
            known.money += int(delta)
        await self.cache.delete(self.keys.player_profile(player_id))
        return eid

    async def create_account(
        self, player_id: str, password_hash: str, email: str | None = None
    ) -> None:
        """Register credentials for an existing player (hash with bcrypt/argon2 beforehand)."""
        await self.writer.commit(CreateAccount(player_id, email, password_hash, time.time()))

    async def create_faction(self, name: str, display_name: str | None = None) -> None:
        await self.writer.commit(CreateFaction(name, display_name or name, time.time()))
        await self.cache.delete(self.keys.faction_state(name))

    async def set_faction(self, player_id: str, faction: str | None, rank: str = "member") -> None:
        """Join, switch (faction=name) or leave (faction=None)."""
        old = await self._membership_quiet(player_id)
        await self.writer.commit(SetFaction(player_id, faction, rank, time.time()))
        names = {n for n in (faction, old) if n}
        await self.cache.delete(*(self.keys.faction_state(n) for n in names))

    async def _membership_quiet(self, player_id: str) -> str | None:
        if self.writer.outage:
            return None
        try:
            m = await self.storage.membership(player_id)
        except Exception:
            return None
        return m.faction if m else None

    async def set_faction_relationship(
        self, faction_a: str, faction_b: str, relationship_type: str, strength: int
    ) -> None:
        if not -100 <= strength <= 100:
            raise ValueError("strength must be between -100 and 100")
        await self.writer.commit(
            SetRelationship(faction_a, faction_b, relationship_type, strength, time.time())
        )
        await self.cache.delete(
            self.keys.faction_state(faction_a), self.keys.faction_state(faction_b)
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
        await self.writer.commit(
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

    async def assign_mission(self, mission_id: str, player_id: str) -> None:
        await self.writer.commit(AssignMission(mission_id, player_id, time.time()))

    async def complete_mission(
        self, mission_id: str, player_id: str, reward: int = 0, *, event_id: str | None = None
    ) -> None:
        """Completion and reward in one transaction. Apply the reward to the live player
        first, as with `change_money`."""
        at = time.time()
        if reward:
            self._money_at[player_id] = at
        await self.writer.commit(
            CompleteMission(mission_id, player_id, int(reward), event_id or str(uuid.uuid4()), at)
        )
        known = self._known.get(player_id)
        if known is not None and reward:
            known.money += int(reward)
        await self.cache.delete(
            self.keys.mission_details(mission_id), self.keys.player_profile(player_id)
        )

    # --- gameplay: relationship shifts and the mission lifecycle (durable when they return) ---
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
        """Move a relationship's strength by `delta` and re-derive its stance; returns the
        event id (pass it again to retry safely: applied once)."""
        a, b = canonical_pair(faction_a, faction_b)
        eid = event_id or str(uuid.uuid4())
        await self.writer.commit(
            ShiftRelationship(eid, a, b, int(delta), rule.as_tuple(), reason[:50], time.time())
        )
        await self.cache.delete(self.keys.faction_state(a), self.keys.faction_state(b))
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
        await self.writer.commit(
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
        await self.writer.commit(AcceptMission(mission_id, player_id, deadline, time.time()))

    async def end_mission(self, mission_id: str, player_id: str, state: str, reason: str) -> None:
        check_mission_end(state)
        await self.writer.commit(EndMission(mission_id, player_id, state, reason, time.time()))

    async def complete_with_rewards(
        self,
        mission_id: str,
        player_id: str,
        *,
        reward: int,
        shifts: Sequence[tuple[str, str, int]] = (),
        rule: StanceRule = DEFAULT_RULE,
    ) -> None:
        """Completion, reward and faction shifts in one transaction, exactly once per
        (mission, player). Apply the reward to the live player first, as with change_money."""
        at = time.time()
        pairs = tuple((*canonical_pair(a, b), int(d)) for a, b, d in shifts)
        key = completion_key(mission_id, player_id)
        if reward:
            self._money_at[player_id] = at
        already = player_id in self._known and await self._applied_quiet(key)
        await self.writer.commit(
            CompleteMissionRewards(
                key,
                mission_id,
                player_id,
                int(reward),
                money_event_of(key),
                pairs,
                rule.as_tuple(),
                at,
            )
        )
        known = self._known.get(player_id)
        if known is not None and reward and not already:
            known.money += int(reward)
        factions = {f for a, b, _ in pairs for f in (a, b)}
        await self.cache.delete(
            self.keys.mission_details(mission_id),
            self.keys.player_profile(player_id),
            *(self.keys.faction_state(f) for f in sorted(factions)),
        )

    async def _applied_quiet(self, key: str) -> bool:
        if self.writer.outage:
            return False
        try:
            return await self.storage.event_applied(key)
        except Exception:
            return False

    async def faction_members(self, faction: str) -> list[Membership]:
        result: list[Membership] = await self._read(self.storage.faction_members(faction))
        return result

    async def faction_names(self, after: str | None, limit: int) -> list[str]:
        result: list[str] = await self._read(self.storage.faction_names(after, limit))
        return result

    async def mission_offer(self, mission_id: str) -> MissionOffer | None:
        result: MissionOffer | None = await self._read(self.storage.mission_offer(mission_id))
        return result

    async def mission_offers(self, player_id: str, limit: int = 50) -> list[MissionOffer]:
        result: list[MissionOffer] = await self._read(self.storage.mission_offers(player_id, limit))
        return result

    async def open_mission_offers(self, limit: int = 10_000) -> list[MissionOffer]:
        result: list[MissionOffer] = await self._read(self.storage.open_mission_offers(limit))
        return result

    async def event_applied(self, event_id: str) -> bool:
        result: bool = await self._read(self.storage.event_applied(event_id))
        return result

    async def save_companion(self, c: Companion) -> None:
        await self.writer.commit(
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
        """Queue a memory (not critical: never waits). Returns its id, None if the queue is full."""
        check_emotional_weight(emotional_weight)
        mid = str(uuid.uuid4())
        ok = self.writer.submit(
            AddNpcMemory(
                mid,
                npc_id,
                player_id,
                memory_type,
                content,
                emotional_weight,
                time.time(),
                expires_at,
            )
        )
        if not ok:
            return None
        with contextlib.suppress(RuntimeError):
            self._spawn(self.cache.delete(self.keys.npc_memory(npc_id)))
        return mid

    async def important_npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        result: list[NpcMemory] = await self._read(
            self.storage.important_npc_memories(npc_id, player_id, limit)
        )
        return result

    async def decay_npc_memories(self, factor_milli: int, floor: int, created_before: float) -> int:
        """Upkeep, straight to the database (not journaled: a decay missed during an outage is
        made up by the next one). The cached latest-20 of an NPC (`npc_memories` without a
        player) may show the old weights until it expires (REDIS_TTL / CACHE_L1_TTL)."""
        n: int = await self._read(
            self.storage.decay_npc_memories(factor_milli, floor, created_before)
        )
        return n

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        n: int = await self._read(self.storage.prune_npc_memories(now, created_before))
        return n

    async def edit_npc_memory(
        self,
        npc_id: str,
        memory_id: str,
        *,
        weight: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> bool:
        """Straight to the database (an admin edit must answer truthfully); the NPC's cached
        latest memories are dropped so the next read sees it."""
        done: bool = await self._read(
            self.storage.edit_npc_memory(npc_id, memory_id, weight=weight, content=content)
        )
        with contextlib.suppress(Exception):  # the cached copy expires anyway (REDIS_TTL)
            await self.cache.delete(self.keys.npc_memory(npc_id))
        return done

    async def delete_npc_memory(self, npc_id: str, memory_id: str) -> bool:
        done: bool = await self._read(self.storage.delete_npc_memory(npc_id, memory_id))
        with contextlib.suppress(Exception):
            await self.cache.delete(self.keys.npc_memory(npc_id))
        return done

    async def npc_relationship(self, npc_key: str, player_id: str) -> NpcRelationship | None:
        result: NpcRelationship | None = await self._read(
            self.storage.npc_relationship(npc_key, player_id)
        )
        return result

    async def save_npc_relationship(self, rel: NpcRelationship) -> None:
        await self.writer.commit(
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
        """Queue one AI call row (never waits, never raises); False when it was dropped."""
        why = check_ai_call(call)
        if why is not None:
            self.metrics.ai_calls_dropped.labels("invalid").inc()
            log.warning("AI call row dropped: %s", why)
            return False
        ok = self.writer.submit(
            RecordAiCall(
                call.call_id,
                call.provider[:50],
                call.model[:100],
                call.purpose[:50],
                call.prompt_hash[:128],
                int(call.tokens_in),
                int(call.tokens_out),
                int(call.latency_ms),
                call.outcome,
                call.player_id,
                None if call.npc_id is None else call.npc_id[:100],
                call.created_at,
            )
        )
        if not ok:
            self.metrics.ai_calls_dropped.labels("queue_full").inc()
        return ok

    async def append_audit(self, entry: AuditEntry) -> None:
        """Durable when it returns (database, or the journal during an outage)."""
        await self.writer.commit(
            AppendAudit(
                entry.entry_id,
                entry.actor[:100],
                entry.action[:100],
                None if entry.target is None else entry.target[:255],
                entry.details,
                entry.result[:255],
                entry.created_at,
            )
        )

    # --- reads ---
    async def ai_calls(
        self, limit: int = 100, *, player_id: str | None = None, npc_id: str | None = None
    ) -> list[AiCall]:
        result: list[AiCall] = await self._read(
            self.storage.ai_calls(limit, player_id=player_id, npc_id=npc_id)
        )
        return result

    async def audit_log(self, limit: int = 100, *, actor: str | None = None) -> list[AuditEntry]:
        result: list[AuditEntry] = await self._read(self.storage.audit_log(limit, actor=actor))
        return result

    async def membership(self, player_id: str) -> Membership | None:
        result: Membership | None = await self._read(self.storage.membership(player_id))
        return result

    async def faction_state(self, name: str) -> FactionState | None:
        key = self.keys.faction_state(name)
        found, raw = await self.cache.get(key)
        if found and isinstance(raw, dict):
            # A copy: the L1 tier hands out the cached object itself, popping from it would
            # strip the relationships from every later hit.
            fields = dict(raw)
            rels = tuple(FactionRelationship(**r) for r in fields.pop("relationships", ()))
            return FactionState(**fields, relationships=rels)
        state: FactionState | None = await self._read(self.storage.faction(name))
        if state is not None:
            await self.cache.set(key, dataclasses.asdict(state))
        return state

    async def mission(self, mission_id: str) -> Mission | None:
        key = self.keys.mission_details(mission_id)
        found, raw = await self.cache.get(key)
        if found and isinstance(raw, dict):
            return Mission(**raw)
        m: Mission | None = await self._read(self.storage.mission(mission_id))
        if m is not None:
            await self.cache.set(key, dataclasses.asdict(m))
        return m

    async def assignments(self, player_id: str) -> list[MissionAssignment]:
        result: list[MissionAssignment] = await self._read(self.storage.assignments(player_id))
        return result

    async def npc_memories(
        self, npc_id: str, player_id: str | None = None, limit: int = 20
    ) -> list[NpcMemory]:
        """Newest first. The latest 20 of an NPC (no player filter) are cached."""
        cacheable = player_id is None and limit == 20
        key = self.keys.npc_memory(npc_id)
        if cacheable:
            found, raw = await self.cache.get(key)
            if found and isinstance(raw, list):
                return [NpcMemory(**m) for m in raw]
        mems: list[NpcMemory] = await self._read(
            self.storage.npc_memories(npc_id, player_id, limit)
        )
        if cacheable:
            await self.cache.set(key, [dataclasses.asdict(m) for m in mems])
        return mems

    async def companions(self, player_id: str) -> list[Companion]:
        result: list[Companion] = await self._read(self.storage.companions(player_id))
        return result

    async def account(self, player_id: str) -> Account | None:
        result: Account | None = await self._read(self.storage.account(player_id))
        return result

    async def ledger(self, player_id: str) -> list[LedgerEntry]:
        result: list[LedgerEntry] = await self._read(self.storage.ledger(player_id))
        return result

    # --- AI response cache (ai:response:{hash}) ---
    async def cached_ai_response(self, digest: str) -> Any:
        found, value = await self.cache.get(self.keys.ai_response(digest))
        return value if found else None

    async def cache_ai_response(self, digest: str, value: Any, ttl: float | None = None) -> None:
        await self.cache.set(self.keys.ai_response(digest), value, ttl)

    # --- health (the GamePersistence seam) ---
    def health(self) -> dict[str, Any]:
        w = self.writer.state()
        if w["journal_error"] and w["mode"] == "outage":
            status = "down"  # neither the database nor the journal takes writes
        elif w["refusing"]:
            status = "down"  # reachable, but writes are refused or stuck: nothing is saved
        elif w["mode"] == "outage":
            status = "degraded"
        else:
            status = "ok"
        return {
            "database": {"status": status, "backend": self.storage.backend, **w},
            "redis": self.cache.status(),
        }


def open_persistence(
    config: Config, registry: CollectorRegistry | None = None
) -> PersistenceService:
    """The persistence the config asks for (not started: call `await start()`)."""
    return PersistenceService(config, registry)
