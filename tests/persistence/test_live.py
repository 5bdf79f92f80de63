"""A real server (in this process, real sockets) over real SQLite and PostgreSQL: what a player
and an operator see when storage misbehaves.

- issue 12 item 1: clients that say hello, read welcome and vanish at once (TCP dropped, or
  `leave` sent) must not break the joins after them;
- /health must call the database down whenever it refuses writes, not only when the
  connection is lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
from websockets.asyncio.client import connect

from config import Config
from protocol.mirror import Mirror
from server.app import Server, start_server
from server.persistence.service import PersistenceService
from tests.e2e.support import eventually, health
from tests.server.conftest import open_client

Start = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_live(backend_config: Config) -> AsyncIterator[Start]:
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        cfg = backend_config.model_copy(
            update={"server_host": "127.0.0.1", "server_port": 0, "npc_count": 20, **overrides}
        )
        srv = await start_server(cfg, PersistenceService(cfg))
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        await s.close(drain=False)


async def _snapshot_at(cfg: Config, player_id: str) -> float | None:
    """When the stored snapshot of `player_id` was taken, read over a connection of our own."""
    if cfg.database_url:
        conn = await asyncpg.connect(cfg.database_url)
        try:
            r = await conn.fetchrow(
                "SELECT extract(epoch FROM snapshot_at) AS t, has_position FROM player_state"
                " WHERE player_id = $1",
                player_id,
            )
        finally:
            await conn.close()
    else:
        with sqlite3.connect(cfg.sqlite_path) as db:
            r = db.execute(
                "SELECT snapshot_at, has_position FROM player_state WHERE player_id = ?",
                (player_id,),
            ).fetchone()
    if r is None or not r[1]:
        return None
    return float(r[0])


async def test_hello_welcome_then_gone_does_not_break_later_joins(
    start_live: Start, backend_config: Config
) -> None:
    srv = await start_live()
    for i in range(6):
        for how in ("drop", "leave"):
            ws = await connect(srv.url, compression=None, open_timeout=10)
            mirror = Mirror(name=f"ghost-{how}-{i}")
            await ws.send(mirror.hello().decode())
            while True:  # read until the welcome, then vanish at once
                msg = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(msg, str) and orjson.loads(msg).get("op") == "welcome":
                    break
            if how == "drop":
                ws.transport.abort()
            else:
                await ws.send(orjson.dumps({"op": "leave"}).decode())
                ws.transport.abort()
    # The next player joins, moves, and its snapshot reaches the database.
    c = await open_client(srv.url, "after-the-ghosts")
    try:
        w = c.mirror.welcome
        assert w is not None
        await c.move(w.x + 1.0, w.y + 1.0, w.z, 0.0)

        async def stored() -> bool:
            return await _snapshot_at(backend_config, w.player_id) is not None

        await eventually(stored, 15, "the new player's snapshot in the database")
        _, h = await health(srv.port)
        assert h["by_name"]["database"]["status"] == "ok", h["by_name"]["database"]
    finally:
        await c.ws.close()


_SQLITE_REFUSE = (
    "CREATE TRIGGER refuse_{t}_{op} BEFORE {op} ON {t} BEGIN"
    " SELECT RAISE(ABORT, 'refused for the test'); END"
)
_PG_REFUSE = (
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$",
    "CREATE TRIGGER refuse_meta BEFORE INSERT OR UPDATE ON ganggpt_meta"
    " FOR EACH ROW EXECUTE FUNCTION refuse()",
    "CREATE TRIGGER refuse_state BEFORE INSERT OR UPDATE ON player_state"
    " FOR EACH ROW EXECUTE FUNCTION refuse()",
)


async def _refuse_writes(cfg: Config, on: bool) -> None:
    """Make the database itself refuse writes (as a full disk or a revoked grant would)."""
    if cfg.database_url:
        conn = await asyncpg.connect(cfg.database_url)
        try:
            if on:
                for sql in _PG_REFUSE:
                    await conn.execute(sql)
            else:
                await conn.execute("DROP FUNCTION refuse() CASCADE")
        finally:
            await conn.close()
        return
    # In a thread: the server's own writer shares this event loop, and holding the loop while
    # waiting for its lock would keep it from ever releasing the lock.
    await asyncio.to_thread(_sqlite_triggers, cfg.sqlite_path, on)


def _sqlite_triggers(path: str, on: bool) -> None:
    with sqlite3.connect(path, timeout=30) as db:
        for t in ("ganggpt_meta", "player_state"):
            for op in ("INSERT", "UPDATE"):
                if on:
                    db.execute(_SQLITE_REFUSE.format(t=t, op=op))
                else:
                    db.execute(f"DROP TRIGGER refuse_{t}_{op}")


async def test_health_reports_the_database_down_while_it_refuses_writes(
    start_live: Start, backend_config: Config
) -> None:
    srv = await start_live(database_write_probe_interval=0.2)
    c = await open_client(srv.url, "walker")
    try:
        status, h = await health(srv.port)
        assert status == 200 and h["by_name"]["database"]["status"] == "ok"
        await _refuse_writes(backend_config, True)
        w = c.mirror.welcome
        assert w is not None
        await c.move(w.x + 1.0, w.y, w.z, 0.0)  # a snapshot to refuse, besides the probe

        async def unhealthy() -> bool:
            status, h = await health(srv.port)
            return status == 503 and h["by_name"]["database"]["status"] == "down"

        await eventually(unhealthy, 15, "/health 503 with the database down")
        _, h = await health(srv.port)
        assert "refused" in h["by_name"]["database"]["details"]["refusing"]
        await _refuse_writes(backend_config, False)

        async def healthy() -> bool:
            status, h = await health(srv.port)
            return status == 200 and h["by_name"]["database"]["status"] == "ok"

        await eventually(healthy, 15, "/health back to 200 once writes are taken again")
    finally:
        await c.ws.close()
