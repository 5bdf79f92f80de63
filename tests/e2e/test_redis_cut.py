"""Redis cut under a running game server (issue 4: Redis down, the game degrades, never stops).

The server runs in-process with SQLite and its REDIS_URL pointing at a loopback proxy the
test cuts (the machine's Redis is never touched; keys live under a prefix of this test). While
Redis is gone: frames and ticks keep their rate, newcomers join, a dropped player resumes (its
session went to the SQL fallback), /health and the redis metric say degraded / down. After the
restore: healthy again, and sessions go through Redis again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import redis

from config import load_config
from server.app import Server, start_server
from server.cache.keys import CacheKeys
from tests.e2e.support import Player, distance, eventually, health, is_healthy, metric, scrape, via
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)

CUT_SECONDS = float(os.environ.get("GANGGPT_TEST_OUTAGE_SECONDS", "3"))


def redis_keys(url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return list(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def session_stored(
    token: str, *, sqlite_path: Path | None = None, redis_url: str = "", redis_key: str = ""
) -> bool:
    """True once the session saved when a player dropped (it carries the position) is where
    the server will look for it: the SQLite table, or the Redis key (read directly)."""
    raw: Any = None
    if sqlite_path is not None:
        with contextlib.closing(sqlite3.connect(sqlite_path, timeout=5)) as db:
            row = db.execute(
                "SELECT data FROM resume_sessions WHERE token = ?", (token,)
            ).fetchone()
        raw = row[0] if row else None
    else:
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        try:
            got = client.get(redis_key)
        finally:
            client.close()
        raw = orjson.loads(got)["data"] if got else None
    if raw is None:
        return False
    data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    return "x" in data


async def drop_and_resume(srv: Server, p: Player, stored: Callable[[str], bool]) -> Player:
    """Cut a player's socket, wait until its session is stored, come back with its token."""
    token, pid = p.resume_token, p.player_id
    p.drop()
    await eventually(lambda: pid not in srv.state.players, 10, "the server seeing the drop")
    await eventually(lambda: stored(token), 10, "the resume session stored", every=0.1)
    return await Player.join(srv.url, p.c.mirror.name, resume=token)


async def test_redis_cut_under_a_running_server_degrades_and_recovers(
    redis_url: str, redis_prefix: str, workdir: Path
) -> None:
    target = urlsplit(redis_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    cfg = load_config(
        server_host="127.0.0.1",
        server_port=0,
        npc_count=50,
        spawn_area_size=200.0,
        log_level="warning",
        database_url=None,
        sqlite_path=str(workdir / "game.db"),
        journal_path=str(workdir / "journal"),
        redis_url=via(redis_url, proxy.port),
        redis_prefix=redis_prefix,
        redis_timeout=0.3,
        persist_retry_max=0.5,
        snapshot_interval=0.2,
    )
    srv = await start_server(cfg)
    loop = asyncio.get_running_loop()
    players: list[Player] = []
    stop = asyncio.Event()
    walking: list[asyncio.Task[None]] = []
    try:
        movers = [await Player.join(srv.url, f"redis-mover-{i}") for i in range(3)]
        dropper = await Player.join(srv.url, "redis-dropper")
        players += [*movers, dropper]
        walking = [
            asyncio.create_task(m.wander(120.0 * i, 8.0, stop)) for i, m in enumerate(movers)
        ]
        await asyncio.sleep(0.8)
        status, h = await health(srv.port)
        assert status == 200 and h["status"] == "healthy", h
        assert metric(await scrape(srv.port), "ganggpt_cache_redis_up") == 1
        assert redis_keys(redis_url, redis_prefix), "the server wrote nothing to Redis"

        tick0, seq0 = srv.state.world.tick, [m.seq for m in movers]
        cut_at = loop.time()
        proxy.cut()

        async def redis_down() -> bool:
            status, h = await health(srv.port)
            assert status == 200, h
            return bool(h["by_name"]["redis"]["status"] == "degraded")

        detected = await eventually(redis_down, 10, "/health reporting redis degraded")
        status, h = await health(srv.port)
        assert h["status"] == "degraded" and h["by_name"]["database"]["status"] == "ok", h
        assert metric(await scrape(srv.port), "ganggpt_cache_redis_up") == 0

        newcomer = await Player.join(srv.url, "redis-newcomer")
        players.append(newcomer)
        assert not newcomer.welcome.resumed
        in_sql = functools.partial(session_stored, sqlite_path=workdir / "game.db")
        back = await drop_and_resume(srv, dropper, in_sql)
        players.append(back)
        assert back.welcome.resumed and back.player_id == dropper.player_id
        assert distance((back.welcome.x, back.welcome.y), dropper.pos[:2]) < 0.01

        await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - loop.time()))
        ticks = srv.state.world.tick - tick0
        frames = [m.seq - s0 for m, s0 in zip(movers, seq0, strict=True)]
        cut_for = loop.time() - cut_at
        proxy.restore()

        recovered = await eventually(
            lambda: is_healthy(srv.port), 20, "/health healthy after Redis returned"
        )
        assert metric(await scrape(srv.port), "ganggpt_cache_redis_up") == 1
        print(
            f"\nredis cut {cut_for:.1f} s: degraded on /health after {detected:.2f} s;"
            f" {ticks} ticks ({ticks / cut_for:.1f}/s), frames per mover"
            f" {min(frames)}..{max(frames)}; healthy {recovered:.2f} s after the restore"
        )
        assert ticks >= 0.5 * cfg.tickrate * cut_for, (ticks, cut_for)
        assert min(frames) >= 0.5 * cfg.send_rate * cut_for, (frames, cut_for)

        # Back to normal: sessions and profiles go to Redis again, resumes still work.
        seq1 = [m.seq for m in movers]
        keys = CacheKeys(redis_prefix)
        again = await drop_and_resume(
            srv,
            back,
            lambda t: session_stored(t, redis_url=redis_url, redis_key=keys.session_data(t)),
        )
        players.append(again)
        assert again.welcome.resumed and again.player_id == dropper.player_id
        await asyncio.sleep(0.5)
        assert all(m.seq > s for m, s in zip(movers, seq1, strict=True))
        assert all(not m.closed.is_set() for m in movers)
    finally:
        stop.set()
        for t in walking:
            t.cancel()
        for p in players:
            await p.close()
        await srv.close(drain=False)
        await proxy.close()
