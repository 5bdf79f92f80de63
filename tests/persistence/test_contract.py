"""The storage contract, run unchanged against SQLite and the real PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest

from server.persistence.api import PlayerSnapshot, ResumeSession
from server.persistence.migrations import MigrationError, load_migrations
from server.persistence.ops import (
    AddNpcMemory,
    AssignMission,
    ChangeMoney,
    CompleteMission,
    CreateAccount,
    CreateFaction,
    CreateMission,
    CreatePlayer,
    SaveCompanion,
    SaveSnapshots,
    SetFaction,
    SetRelationship,
)
from server.persistence.storage import Storage, UnknownPlayer


def uid() -> str:
    return str(uuid.uuid4())


async def new_player(st: Storage, name: str | None = None, at: float | None = None) -> str:
    pid = uid()
    await st.apply(CreatePlayer(pid, name or f"p-{pid[:8]}", at or time.time()))
    return pid


def snap(pid: str, x: float, t: float, money: int = 0) -> PlayerSnapshot:
    return PlayerSnapshot(pid, x, x + 1, x + 2, 90.0, 80, 10, money, t)


async def test_migrations_are_versioned_and_idempotent(storage: Storage) -> None:
    # The in-memory backend has no schema; it reports SQLite's version.
    latest = load_migrations("sqlite" if storage.backend == "memory" else storage.backend)[
        -1
    ].version
    assert await storage.schema_version() == latest
    assert await storage.migrate() == []  # nothing left to apply
    info = await storage.info()
    assert info.backend == storage.backend and info.schema_version == latest


def test_migration_lists_are_gapless() -> None:
    for backend in ("postgres", "sqlite"):
        versions = [m.version for m in load_migrations(backend)]
        assert versions == list(range(1, len(versions) + 1))
    from server.persistence.migrations import pending

    with pytest.raises(MigrationError, match="newer"):
        pending(load_migrations("sqlite"), 999)


async def test_create_player_is_idempotent_and_found_by_name(storage: Storage) -> None:
    t = time.time()
    pid = uid()
    op = CreatePlayer(pid, "alice", t)
    await storage.apply(op)
    await storage.apply(op)  # a replayed journal record
    rec = await storage.player_by_name("alice")
    assert rec is not None and rec.player_id == pid and rec.name == "alice"
    assert not rec.has_position and rec.health == 100 and rec.money == 0
    assert await storage.player(pid) == rec
    assert await storage.player_by_name("nobody") is None
    assert await storage.player(uid()) is None


async def test_name_clash_from_the_journal_keeps_both_players(storage: Storage) -> None:
    first = await new_player(storage, "bob")
    late = uid()
    await storage.apply(CreatePlayer(late, "bob", time.time()))
    kept = await storage.player(late)
    assert kept is not None and kept.name == f"bob~{late[:8]}"
    owner = await storage.player_by_name("bob")
    assert owner is not None and owner.player_id == first


async def test_snapshots_only_move_forward_and_ignore_unknown_players(storage: Storage) -> None:
    pid = await new_player(storage)
    t = time.time()
    await storage.upsert_snapshots([snap(pid, 10.0, t), snap(uid(), 5.0, t)])
    rec = await storage.player(pid)
    assert rec is not None and rec.has_position
    assert (rec.x, rec.y, rec.z, rec.heading, rec.health, rec.armor) == (10, 11, 12, 90, 80, 10)
    await storage.upsert_snapshots([snap(pid, 1.0, t - 5)])  # older: ignored
    rec = await storage.player(pid)
    assert rec is not None and rec.x == 10.0
    await storage.apply(SaveSnapshots((snap(pid, 20.0, t + 1),)))
    rec = await storage.player(pid)
    assert rec is not None and rec.x == 20.0
    assert await storage.snapshot_time(pid) == pytest.approx(t + 1, abs=1e-3)


async def test_money_ledger_applies_each_event_once_in_order(storage: Storage) -> None:
    pid = await new_player(storage)
    t = time.time()
    events = [uid() for _ in range(5)]
    for i, e in enumerate(events):
        await storage.apply(ChangeMoney(e, pid, 10 * (i + 1), f"reward {i}", t + i))
    await storage.apply(ChangeMoney(events[2], pid, 30, "reward 2", t + 2))  # replay
    rec = await storage.player(pid)
    assert rec is not None and rec.money == 150
    ledger = await storage.ledger(pid)
    assert [x.event_id for x in ledger] == events
    assert [x.balance_after for x in ledger] == [10, 30, 60, 100, 150]
    with pytest.raises(UnknownPlayer):
        await storage.apply(ChangeMoney(uid(), uid(), 5, "x", t))


async def test_stale_snapshot_cannot_undo_a_money_change(storage: Storage) -> None:
    pid = await new_player(storage)
    t = time.time()
    await storage.apply(ChangeMoney(uid(), pid, 500, "mission", t))
    await storage.upsert_snapshots([snap(pid, 3.0, t - 0.5, money=0)])  # taken before
    rec = await storage.player(pid)
    assert rec is not None and rec.money == 500 and rec.x == 3.0
    await storage.upsert_snapshots([snap(pid, 4.0, t + 0.5, money=480)])  # taken after
    rec = await storage.player(pid)
    assert rec is not None and rec.money == 480


async def test_accounts(storage: Storage) -> None:
    pid = await new_player(storage)
    t = time.time()
    await storage.apply(CreateAccount(pid, "a@example.com", "$argon2id$hash", t))
    acc = await storage.account(pid)
    assert (
        acc is not None and acc.email == "a@example.com" and acc.password_hash == "$argon2id$hash"
    )
    await storage.apply(CreateAccount(pid, "a@example.com", "$argon2id$new", t + 1))
    acc = await storage.account(pid)
    assert acc is not None and acc.password_hash == "$argon2id$new"
    other = await new_player(storage)
    with pytest.raises(Exception):  # noqa: B017 - each driver has its own IntegrityError
        await storage.apply(CreateAccount(other, "a@example.com", "h", t))
    assert await storage.account(other) is None


async def test_factions_membership_and_relationships(storage: Storage) -> None:
    a, b = await new_player(storage), await new_player(storage)
    t = time.time()
    await storage.apply(CreateFaction("ballas", "Ballas", t))
    await storage.apply(CreateFaction("ballas", "Ignored", t))  # idempotent
    await storage.apply(CreateFaction("vagos", "Los Santos Vagos", t))
    await storage.apply(SetFaction(a, "ballas", "member", t))
    await storage.apply(SetFaction(b, "ballas", "boss", t))
    await storage.apply(SetFaction(a, "ballas", "lieutenant", t + 5))  # promotion keeps joined_at
    m = await storage.membership(a)
    assert m is not None and m.rank == "lieutenant" and m.joined_at == pytest.approx(t, abs=1e-3)
    await storage.apply(SetRelationship("ballas", "vagos", "war", -80, t))
    await storage.apply(SetRelationship("ballas", "vagos", "truce", -10, t + 1))
    f = await storage.faction("ballas")
    assert f is not None and f.display_name == "Ballas" and f.members == 2
    assert [(r.faction_b, r.relationship_type, r.strength) for r in f.relationships] == [
        ("vagos", "truce", -10)
    ]
    await storage.apply(SetFaction(b, "vagos", "member", t + 2))
    await storage.apply(SetFaction(a, None, "member", t + 3))
    assert await storage.membership(a) is None
    f = await storage.faction("ballas")
    assert f is not None and f.members == 0
    assert await storage.faction("nope") is None


async def test_faction_names_in_pages_by_name(storage: Storage) -> None:
    t = time.time()
    for name in ("vagos", "aztecas", "ballas", "lost_mc"):
        await storage.apply(CreateFaction(name, name.title(), t))
    every = await storage.faction_names(None, 100)
    assert every == sorted(every) and {"aztecas", "ballas", "lost_mc", "vagos"} <= set(every)
    assert await storage.faction_names(None, 2) == every[:2]
    assert await storage.faction_names(every[1], 2) == every[2:4]
    assert await storage.faction_names(every[-1], 5) == []


async def test_mission_completion_pays_once(storage: Storage) -> None:
    pid = await new_player(storage)
    mid, t = uid(), time.time()
    await storage.apply(
        CreateMission(
            mid, "Heist", "rob the bank", "ai", 7, 900.0, 5000, {"ballas": 5}, t, t + 3600
        )
    )
    m = await storage.mission(mid)
    assert m is not None and m.title == "Heist" and m.estimated_duration_s == 900.0
    assert m.faction_impact == {"ballas": 5} and m.expires_at == pytest.approx(t + 3600, abs=1e-3)
    with pytest.raises(LookupError):
        await storage.apply(CompleteMission(mid, pid, 100, uid(), t))  # not assigned
    await storage.apply(AssignMission(mid, pid, t))
    await storage.apply(AssignMission(mid, pid, t))
    done = CompleteMission(mid, pid, 750, uid(), t + 60)
    await storage.apply(done)
    await storage.apply(done)  # replayed
    [a] = await storage.assignments(pid)
    assert a.status == "completed" and a.reward_paid == 750
    rec = await storage.player(pid)
    assert rec is not None and rec.money == 750
    assert [e.reason for e in await storage.ledger(pid)] == [f"mission:{mid}"]


async def test_npc_memories_newest_first_filtered_and_expiring(storage: Storage) -> None:
    pid, other = await new_player(storage), await new_player(storage)
    t = time.time()
    ops = [
        AddNpcMemory(uid(), "npc-7", pid, "talk", {"n": i}, 50 + i, t - 10 + i, None)
        for i in range(5)
    ]
    ops.append(AddNpcMemory(uid(), "npc-7", other, "fight", {"n": 99}, 90, t, None))
    ops.append(AddNpcMemory(uid(), "npc-7", pid, "gone", {"n": -1}, 10, t, t - 1))  # expired
    for op in ops:
        await storage.apply(op)
    await storage.apply(ops[0])  # replay
    all_ = await storage.npc_memories("npc-7")
    assert [m.content["n"] for m in all_] == [99, 4, 3, 2, 1, 0]
    mine = await storage.npc_memories("npc-7", pid, limit=2)
    assert [m.content["n"] for m in mine] == [4, 3]
    assert await storage.npc_memories("npc-8") == []
    await storage.maintain(t)  # purges expired rows, creates partitions (PostgreSQL)


async def test_companions_upsert(storage: Storage) -> None:
    pid, t = await new_player(storage), time.time()
    cid = uid()
    op = SaveCompanion(cid, pid, "Rex", "dog", {"brave": True}, 0, 50, None, t)
    await storage.apply(op)
    await storage.apply(
        SaveCompanion(cid, pid, "Rex", "dog", {"brave": True}, 120, 75, {"met": "grove"}, t)
    )
    [c] = await storage.companions(pid)
    assert (c.name, c.experience_points, c.loyalty_level, c.memory_data) == (
        "Rex",
        120,
        75,
        {"met": "grove"},
    )


async def test_sessions_taken_once_and_expire(storage: Storage) -> None:
    now = time.time()
    s = ResumeSession("tok-1", uid(), "carl", now + 60, {"x": 1.5, "net_id": 7})
    await storage.save_session(s)
    got = await storage.take_session("tok-1", now)
    assert got is not None and got.expires_at == pytest.approx(s.expires_at, abs=1e-5)
    got.expires_at = s.expires_at  # PostgreSQL keeps microseconds
    assert got == s
    assert await storage.take_session("tok-1", now) is None
    await storage.save_session(ResumeSession("tok-2", uid(), "old", now - 1, {}))
    assert await storage.take_session("tok-2", now) is None
    assert await storage.take_session("missing", now) is None


async def test_ping_and_unavailable_classification(storage: Storage) -> None:
    await storage.ping()
    assert storage.is_unavailable(ConnectionResetError())
    assert storage.is_unavailable(TimeoutError())
    assert not storage.is_unavailable(ValueError("constraint"))


async def test_ai_calls_recorded_once_newest_first_and_filtered(storage: Storage) -> None:
    from server.persistence.ops import RecordAiCall

    pid, t = await new_player(storage), time.time()
    ops = [
        RecordAiCall(uid(), "openai", "gpt-4o-mini", "npc_dialogue", f"h{i}", 100 + i, 20, 350,
                     "ok", pid if i % 2 else None, "npc-1" if i < 3 else "npc-2", t + i)
        for i in range(5)
    ]  # fmt: skip
    for op in ops:
        await storage.apply(op)
    await storage.apply(ops[0])  # replayed: still one row
    calls = await storage.ai_calls()
    assert [c.prompt_hash for c in calls] == ["h4", "h3", "h2", "h1", "h0"]
    assert calls[-1].call_id == ops[0].call_id and calls[-1].created_at == pytest.approx(t)
    assert (calls[0].tokens_in, calls[0].tokens_out, calls[0].latency_ms) == (104, 20, 350)
    assert [c.prompt_hash for c in await storage.ai_calls(player_id=pid)] == ["h3", "h1"]
    assert [c.prompt_hash for c in await storage.ai_calls(2, npc_id="npc-1")] == ["h2", "h1"]


async def test_audit_log_kept_once_newest_first(storage: Storage) -> None:
    from server.persistence.ops import AppendAudit

    t = time.time()
    first = AppendAudit(uid(), "root", "kick", "player-1", {"reason": "spam"}, "ok", t)
    await storage.apply(first)
    await storage.apply(first)
    await storage.apply(AppendAudit(uid(), "mod", "ban", None, {}, "denied", t + 1))
    log = await storage.audit_log()
    assert [(e.actor, e.action, e.result) for e in log] == [
        ("mod", "ban", "denied"),
        ("root", "kick", "ok"),
    ]
    assert log[1].details == {"reason": "spam"} and log[1].target == "player-1"
    assert [e.action for e in await storage.audit_log(actor="root")] == ["kick"]


async def test_database_identity_is_stable_and_writes_can_be_probed(storage: Storage) -> None:
    a = await storage.database_id()
    assert a and a == await storage.database_id()
    await storage.probe_write(time.time())
