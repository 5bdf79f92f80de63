"""Shared by the memory, rumour and companion tests: a real World without sockets, NPCs placed
where a test wants them, and a persistence of each backend (SQLite, PostgreSQL, in memory)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import load_config
from server.persistence.memory import MemoryPersistence
from server.persistence.service import PersistenceService
from server.world.commands import SpawnNpc
from server.world.world import World
from tests.persistence.conftest import FAST

HISTORY = 240


def make_world(**over: Any) -> World:
    cfg = load_config(
        **{
            "npc_count": 20,
            "spawn_area_size": 100.0,
            "log_level": "warning",
            "sqlite_path": "",
            "npc_spawn_capacity": 16,
            **over,
        }
    )
    return World(cfg, HISTORY)


def away(w: World) -> tuple[float, float]:
    """A spot 600 m east of every generated NPC (their spawn area is 100 m wide)."""
    return w.npcs.area[2] + 600.0, (w.npcs.area[1] + w.npcs.area[3]) / 2


def add_player(w: World, x: float, y: float, name: str = "Nico") -> int:
    nid = w.net_ids.allocate(w.tick)
    w.spawn_player(nid, name, x, y, 0.0, 0.0)
    return nid


def place_npc(w: World, x: float, y: float, name: str, faction: str = "none") -> int:
    nid = w.spawn(SpawnNpc(x=x, y=y, name=name, role="vendor", faction=faction))
    assert nid is not None
    return nid


@dataclass
class PlayerRef:
    player_id: str
    nid: int
    name: str
    permissions: frozenset[str] = frozenset({"play:game"})


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def persistence(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    p: Any
    if request.param == "memory":
        p = MemoryPersistence()
    else:
        values: dict[str, Any] = {
            **FAST,
            "sqlite_path": str(tmp_path / "ganggpt.db"),
            "journal_path": str(tmp_path / "journal"),
        }
        if request.param == "postgres":
            values["database_url"] = request.getfixturevalue("pg_url")
        p = PersistenceService(load_config(**values), CollectorRegistry())
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
