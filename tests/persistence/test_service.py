"""PersistenceService through the GamePersistence seam, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from config import Config
from server.persistence.api import GamePersistence, PlayerSnapshot, ResumeSession
from server.persistence.service import PersistenceService, make_storage, open_persistence
from tests.persistence.conftest import eventually


def snap(pid: str, x: float, t: float | None = None, money: int = 0) -> PlayerSnapshot:
    return PlayerSnapshot(pid, x, -x, 30.0, 45.0, 90, 20, money, t or time.time())


async def test_player_state_survives_a_restart(backend_config: Config) -> None:
    svc: GamePersistence = open_persistence(backend_config, CollectorRegistry())
    await svc.start()
    rec = await svc.load_or_create_player("franklin")
    assert not rec.has_position
    again = await svc.load_or_create_player("franklin")
    assert again.player_id == rec.player_id
    svc.submit_snapshots([snap(rec.player_id, 100.0)])
    svc.submit_snapshots([snap(rec.player_id, 101.5)])  # coalesced: the latest wins
    await svc.close()

    svc2 = open_persistence(backend_config, CollectorRegistry())
    await svc2.start()
    back = await svc2.load_or_create_player("franklin")
    assert back.player_id == rec.player_id and back.has_position
    assert (back.x, back.y, back.z, back.heading, back.health, back.armor) == (
        101.5,
        -101.5,
        30.0,
        45.0,
        90,
        20,
    )
    await svc2.close()


async def test_creation_is_durable_before_it_returns(backend_config: Config) -> None:
    svc = PersistenceService(backend_config)
    await svc.start()
    rec = await svc.load_or_create_player("lamar")
    other = make_storage(backend_config)  # a second, independent connection
    await other.open()
    try:
        stored = await other.player(rec.player_id)
        assert stored is not None and stored.name == "lamar"
        await svc.change_money(rec.player_id, 250, "mission reward")
        await svc.create_faction("families", "The Families")
        await svc.set_faction(rec.player_id, "families", "og")
        mid = await svc.create_mission("Repo", difficulty=3, reward_pool=400)
        await svc.assign_mission(mid, rec.player_id)
        await svc.complete_mission(mid, rec.player_id, reward=400)
        await svc.set_faction_relationship("families", "ballas", "war", -90)
        stored = await other.player(rec.player_id)
        assert stored is not None and stored.money == 650
        m = await other.membership(rec.player_id)
        assert m is not None and m.faction == "families" and m.rank == "og"
        assert [a.status for a in await other.assignments(rec.player_id)] == ["completed"]
    finally:
        await other.close()
    fs = await svc.faction_state("families")
    assert fs is not None and fs.members == 1 and fs.relationships[0].strength == -90
    assert (await svc.faction_state("families")) == fs  # from the cache now
    mission = await svc.mission(mid)
    assert mission is not None and mission.title == "Repo"
    await svc.close()


async def test_npc_memories_and_companions(backend_config: Config) -> None:
    from server.persistence.models import Companion

    svc = PersistenceService(backend_config)
    await svc.start()
    p = await svc.load_or_create_player("trevor")
    assert svc.add_npc_memory("npc-3", "insult", {"said": "nice car"}, player_id=p.player_id)
    await eventually(lambda: svc.writer.queue_depth() == 0, what="memory written")
    [m] = await svc.npc_memories("npc-3")
    assert m.content == {"said": "nice car"}
    assert svc.add_npc_memory("npc-3", "gift", {"item": "rose"}, player_id=p.player_id)
    await eventually(lambda: svc.writer.queue_depth() == 0, what="memory written")
    assert [x.memory_type for x in await svc.npc_memories("npc-3")] == ["gift", "insult"]
    await svc.save_companion(
        Companion(
            "c0ffee00-0000-4000-8000-000000000001", p.player_id, "Chop", "dog", {"loyal": True}
        )
    )
    assert [c.name for c in await svc.companions(p.player_id)] == ["Chop"]
    await svc.close()


async def test_sessions_survive_restart_without_redis(backend_config: Config) -> None:
    svc = PersistenceService(backend_config)
    await svc.start()
    s = ResumeSession(
        "resume-abc", "00000000-0000-4000-8000-000000000000", "cj", time.time() + 60, {"net_id": 3}
    )
    await svc.save_session(s)
    await svc.close()
    svc2 = PersistenceService(backend_config)
    await svc2.start()
    got = await svc2.take_session("resume-abc")
    assert got is not None and got.name == "cj" and got.data == {"net_id": 3}
    assert await svc2.take_session("resume-abc") is None
    await svc2.save_session(ResumeSession("expired", "x", "y", time.time() - 1))
    assert await svc2.take_session("expired") is None
    await svc2.close()


async def test_submit_snapshots_never_blocks_never_raises(
    make_config: Callable[..., Config],
) -> None:
    cfg = make_config(persist_queue_size=150, snapshot_interval=60.0)
    reg = CollectorRegistry()
    svc = PersistenceService(cfg, reg)
    await svc.start()
    players = [await svc.load_or_create_player(f"bot{i}") for i in range(200)]
    snaps = [snap(p.player_id, float(i)) for i, p in enumerate(players)]
    worst = 0.0
    for _ in range(50):
        t0 = time.perf_counter()
        svc.submit_snapshots(snaps)
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 0.02, f"submit_snapshots of 200 took {worst * 1000:.2f} ms"
    assert svc.writer.queue_depth() == 150  # bounded: coalesced per player, capped
    svc.submit_snapshots([snap("x", float("nan"))])
    svc.submit_snapshots(None)  # type: ignore[arg-type]  # garbage: logged, not raised
    text = generate_latest(reg).decode()
    assert 'ganggpt_persist_snapshots_dropped_total{reason="queue_full"}' in text
    assert 'ganggpt_persist_snapshots_dropped_total{reason="non_finite"} 1.0' in text
    await svc.close()  # close flushes what is queued
    check = PersistenceService(cfg)
    await check.start()
    rec = await check.get_player(players[10].player_id)
    assert rec is not None and rec.has_position and rec.x == 10.0
    await check.close()


async def test_metrics_and_health(backend_config: Config) -> None:
    reg = CollectorRegistry()
    svc = PersistenceService(backend_config, reg)
    await svc.start()
    p = await svc.load_or_create_player("metrics")
    svc.submit_snapshots([snap(p.player_id, 1.0)])
    await eventually(lambda: svc.writer.queue_depth() == 0, what="flush")
    text = generate_latest(reg).decode()
    for name in (
        "ganggpt_persist_queue_depth",
        "ganggpt_persist_write_seconds_bucket",
        "ganggpt_persist_oldest_unpersisted_seconds",
        "ganggpt_persist_journal_records",
        "ganggpt_persist_journal_bytes",
        "ganggpt_persist_db_up 1.0",
        "ganggpt_cache_redis_up -1.0",
    ):
        assert name in text, name
    h = svc.health()
    assert h["database"]["status"] == "ok" and h["database"]["backend"] == backend_config_backend(
        backend_config
    )
    assert h["redis"] == {
        "status": "ok",
        "backend": "in-process",
        "l1_entries": h["redis"]["l1_entries"],
    }
    await svc.close()


def backend_config_backend(cfg: Config) -> str:
    return "postgres" if cfg.database_url else "sqlite"
