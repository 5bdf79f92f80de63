"""What only PostgreSQL has: monthly npc_memories partitions, indexes, the read replica URL."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import asyncpg

from server.persistence.ops import AddNpcMemory, CreatePlayer
from server.persistence.pg_storage import PostgresStorage


async def _storage(url: str, **kw: object) -> PostgresStorage:
    st = PostgresStorage(url, pool_size=2, timeout_ms=5000, **kw)  # type: ignore[arg-type]
    await st.open()
    await st.migrate()
    return st


def _month_name(d: dt.datetime) -> str:
    return f"npc_memories_{d.year:04d}_{d.month:02d}"


async def test_npc_memories_partitioned_by_month_ahead(pg_url: str) -> None:
    st = await _storage(pg_url, partitions_ahead=3)
    try:
        await st.maintain(time.time())
        parts = await st.partitions()
        now = dt.datetime.now(dt.UTC).replace(day=1)
        want = []
        y, m = now.year, now.month
        for _ in range(4):  # this month and 3 ahead
            want.append(f"npc_memories_{y:04d}_{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        assert set(want) <= set(parts)
        conn = await asyncpg.connect(pg_url)
        try:
            kind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE relname = 'npc_memories'"
            )
            assert kind == "p"  # declaratively partitioned
            key = await conn.fetchval("SELECT pg_get_partkeydef('npc_memories'::regclass)")
            assert key == "RANGE (created_at)"
            pk = await conn.fetchval(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'npc_memories'::regclass AND contype = 'p'"
            )
            assert pk == "PRIMARY KEY (id, created_at)"
        finally:
            await conn.close()
    finally:
        await st.close()


async def test_memory_for_a_month_without_partition_creates_it(pg_url: str) -> None:
    st = await _storage(pg_url)
    try:
        pid = str(uuid.uuid4())
        await st.apply(CreatePlayer(pid, "old-timer", time.time()))
        long_ago = dt.datetime(2019, 3, 14, 12, tzinfo=dt.UTC)
        assert _month_name(long_ago) not in await st.partitions()
        await st.apply(
            AddNpcMemory(
                str(uuid.uuid4()), "npc-1", pid, "talk", {"a": 1}, 50, long_ago.timestamp(), None
            )
        )
        assert _month_name(long_ago) in await st.partitions()
        [m] = await st.npc_memories("npc-1")
        assert m.created_at == long_ago.timestamp()
    finally:
        await st.close()


async def test_indexes_for_the_real_queries(pg_url: str) -> None:
    st = await _storage(pg_url)
    await st.close()
    conn = await asyncpg.connect(pg_url)
    try:
        names = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
    finally:
        await conn.close()
    for idx in (
        "players_username_key",
        "money_ledger_player_idx",
        "money_ledger_event_id_key",
        "faction_members_faction_idx",
        "mission_assignments_player_idx",
        "companions_player_idx",
        "npc_memories_npc_player_idx",
        "resume_sessions_expires_idx",
    ):
        assert idx in names, idx


async def test_reads_that_tolerate_lag_use_the_read_url(pg_url: str) -> None:
    st = await _storage(pg_url, read_url=pg_url)
    try:
        info = await st.info()
        assert info.details["replica"] is True
        assert await st.faction("none") is None  # served by the replica pool
    finally:
        await st.close()
