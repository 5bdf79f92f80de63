"""`ganggpt copy`: a SQLite world moved into a fresh PostgreSQL database, compared read by read
(issue 12, item 14)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import Config
from server.persistence.api import PlayerSnapshot
from server.persistence.commands import CommandError, copy
from server.persistence.models import AiCall, AuditEntry, Companion
from server.persistence.service import PersistenceService
from server.persistence.storage import Storage
from tests.e2e.support import REPO, server_env
from tests.persistence.conftest import eventually


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to a microsecond (PostgreSQL keeps microseconds)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, abs_tol=2e-6), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a, b)
        for k in a:
            same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


async def _world(cfg: Config) -> dict[str, Any]:
    """A small world with every kind of row; returns what to look up afterwards."""
    svc = PersistenceService(cfg, CollectorRegistry())
    await svc.start()
    r = svc.repos
    names = [f"player-{i}" for i in range(5)]
    players = [await r.players.load_or_create(n) for n in names]
    now = time.time()
    svc.submit_snapshots(
        [
            PlayerSnapshot(p.player_id, 10.5 * i, -3.25 * i, 1.0, 90.0, 80, 5, 0, now - 2)
            for i, p in enumerate(players)
        ]
    )
    await eventually(
        lambda: svc.storage.snapshot_time(players[-1].player_id), 10, "snapshots stored"
    )
    await r.players.change_money(players[0].player_id, 250, "job")
    await r.players.change_money(players[0].player_id, -40, "fine")
    await r.accounts.create(players[1].player_id, "$argon2id$h", "p1@example.com")
    await r.factions.create("grove", "Grove Street")
    await r.factions.create("ballas", "Ballas")
    await r.factions.join(players[0].player_id, "grove", "og")
    await r.factions.join(players[2].player_id, "ballas")
    await r.factions.set_relationship("grove", "ballas", "war", -90)
    mid = await r.missions.create(
        "Repo job", description="bring the car", difficulty=3, estimated_duration_s=600.0,
        reward_pool=500, faction_impact={"grove": 2}, expires_at=now + 3600,
    )  # fmt: skip
    await r.missions.assign(mid, players[0].player_id)
    await r.missions.complete(mid, players[0].player_id, reward=500)
    mid2 = await r.missions.create("Open job", difficulty=1)
    await r.missions.assign(mid2, players[3].player_id)
    await r.companions.save(
        Companion(str(uuid.uuid4()), players[1].player_id, "Chop", "dog", {"brave": True},
                  12, 70, {"met": "grove"}, now)
    )  # fmt: skip
    for i in range(3):
        r.npc_memory.add("npc-1", "talk", {"n": i}, player_id=players[i].player_id)
    r.ai_calls.record(AiCall("offline", "m", "npc_dialogue", "h1", 10, 5, 30, "ok",
                             player_id=players[0].player_id, npc_id="npc-1"))  # fmt: skip
    await r.audit.append(AuditEntry("root", "kick", players[4].player_id, {"why": "afk"}, "ok"))

    async def settled() -> bool:
        return len(await svc.storage.npc_memories("npc-1")) == 3 and bool(
            await svc.storage.ai_calls()
        )

    await eventually(settled, 10, "queued rows stored")
    await svc.close()
    return {"names": names, "ids": [p.player_id for p in players], "missions": [mid, mid2]}


async def _read_all(st: Storage, w: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, pid in zip(w["names"], w["ids"], strict=True):
        out[name] = (
            await st.player_by_name(name),
            await st.snapshot_time(pid),
            await st.account(pid),
            await st.ledger(pid),
            await st.membership(pid),
            await st.assignments(pid),
            await st.companions(pid),
            await st.ai_calls(player_id=pid),
        )
    out["factions"] = [await st.faction(f) for f in ("grove", "ballas")]
    out["missions"] = [await st.mission(m) for m in w["missions"]]
    out["memories"] = await st.npc_memories("npc-1")
    out["audit"] = await st.audit_log()
    return out


async def test_copy_sqlite_world_into_postgresql(
    make_config: Callable[..., Config], pg_url: str, tmp_path: Path
) -> None:
    src_cfg = make_config(sqlite_path=str(tmp_path / "world.db"))
    world = await _world(src_cfg)
    result = await copy(src_cfg, f"sqlite:///{tmp_path / 'world.db'}", pg_url)
    assert result["backend"] == "sqlite -> postgres"
    assert result["rows"]["players"] == 5 and result["rows"]["money_ledger"] == 3

    dst_cfg = make_config(database_url=pg_url, journal_path=str(tmp_path / "pg-journal"))
    src = PersistenceService(src_cfg, CollectorRegistry())
    dst = PersistenceService(dst_cfg, CollectorRegistry())
    await src.start()
    await dst.start()
    try:
        before, after = await _read_all(src.storage, world), await _read_all(dst.storage, world)
        same(before, after)
        assert after["player-0"][0].money == 710 and after["factions"][0].members == 1
        assert await src.storage.database_id() != await dst.storage.database_id()
        # The copy is a working world: the ledger's ids continue, players can join.
        await dst.repos.players.change_money(world["ids"][0], 1, "after the copy")
        ledger = await dst.repos.players.ledger(world["ids"][0])
        assert [e.entry_id for e in ledger] == sorted({e.entry_id for e in ledger})
        await dst.repos.players.load_or_create("newcomer")
    finally:
        await src.close()
        await dst.close()

    with pytest.raises(CommandError, match="already holds data"):
        await copy(src_cfg, f"sqlite:///{tmp_path / 'world.db'}", pg_url)


async def test_copy_refuses_a_source_held_by_a_server(
    make_config: Callable[..., Config], pg_url: str, tmp_path: Path
) -> None:
    cfg = make_config(sqlite_path=str(tmp_path / "live.db"))
    svc = PersistenceService(cfg, CollectorRegistry())
    await svc.start()
    try:
        with pytest.raises(CommandError, match="in use"):
            await copy(cfg, f"sqlite:///{tmp_path / 'live.db'}", pg_url)
    finally:
        await svc.close()


def test_copy_command_line(make_config: Callable[..., Config], tmp_path: Path) -> None:
    """`ganggpt copy --help` documents it; a missing source is one line and exit 1."""
    env = server_env(0, tmp_path)
    helped = subprocess.run(
        [sys.executable, "-m", "server", "copy", "--help"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert helped.returncode == 0 and "--from" in helped.stdout and "--to" in helped.stdout
    done = subprocess.run(
        [sys.executable, "-m", "server", "copy", "--from", f"sqlite:///{tmp_path}/none.db",
         "--to", f"sqlite:///{tmp_path}/other.db"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
