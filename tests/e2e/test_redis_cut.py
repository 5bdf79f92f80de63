"""Redis cut under a running game server (issue 4: Redis down, the game degrades, never stops).

The server runs in-process with SQLite and its REDIS_URL pointing at a loopback proxy the
test cuts (the machine's Redis is never touched; keys live under a prefix of this test). While
Redis is gone: frames and ticks keep their rate, newcomers join, a dropped player resumes (its
session went to the SQL fallback), /health and the redis metric say degraded / down. After the
restore: healthy again, and sessions go through Redis again.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from config import load_config
from server.app import Server, start_server
from tests.e2e.support import Player, distance, eventually, health, metric, scrape, via
from tests.persistence.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)

CUT_SECONDS = float(os.environ.get("GANGGPT_TEST_OUTAGE_SECONDS", "3"))


def redis_keys(url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return list(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


async def drop_and_resume(srv: Server, p: Player) -> Player:
    """Cut a player's socket, wait for the server to let it go, come back with its token."""
    token, pid = p.resume_token, p.player_id
    p.drop()
    await eventually(lambda: pid not in srv.state.players, 10, "the server seeing the drop")
    await asyncio.sleep(0.3)  # the session is stored on a task after the drop
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
        back = await drop_and_resume(srv, dropper)
        players.append(back)
        assert back.welcome.resumed and back.player_id == dropper.player_id
        assert distance((back.welcome.x, back.welcome.y), dropper.pos[:2]) < 0.01

        await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - loop.time()))
        ticks = srv.state.world.tick - tick0
        frames = [m.seq - s0 for m, s0 in zip(movers, seq0, strict=True)]
        cut_for = loop.time() - cut_at
        proxy.restore()

        async def healthy() -> bool:
            status, h = await health(srv.port)
            return status == 200 and h["status"] == "healthy"

        recovered = await eventually(healthy, 20, "/health healthy after Redis returned")
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
        again = await drop_and_resume(srv, back)
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
