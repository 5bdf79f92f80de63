"""Redis as L2 cache and shared session store; and the game going on when Redis goes away."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, generate_latest

from config import Config
from server.persistence.api import ResumeSession
from server.persistence.service import PersistenceService
from tests.persistence.conftest import eventually
from tests.persistence.tcp_proxy import TcpProxy


async def test_seed_key_layout_with_ttl(
    redis_url: str, redis_prefix: str, make_config: Callable[..., Config]
) -> None:
    cfg = make_config(redis_url=redis_url, redis_prefix=redis_prefix, redis_ttl=120)
    svc = PersistenceService(cfg)
    await svc.start()
    p = await svc.load_or_create_player("michael")
    await svc.create_faction("lost", "The Lost MC")
    assert (await svc.faction_state("lost")) is not None
    mid = await svc.create_mission("Deliver", difficulty=2)
    assert (await svc.mission(mid)) is not None
    assert svc.add_npc_memory("npc-9", "talk", {"hi": 1})
    await eventually(lambda: svc.writer.queue_depth() == 0, what="memory written")
    assert len(await svc.npc_memories("npc-9")) == 1
    await svc.cache_ai_response("abc123", {"text": "Hey."})
    await svc.save_session(ResumeSession("tok9", p.player_id, "michael", time.time() + 30))
    await eventually(lambda: len(svc._tasks) == 0, what="background cache writes")
    r = aioredis.from_url(redis_url)
    try:
        keys = {k.decode() async for k in r.scan_iter(match=redis_prefix + "*")}
        assert keys == {
            f"{redis_prefix}player:{p.player_id}:profile",
            f"{redis_prefix}faction:lost:state",
            f"{redis_prefix}mission:{mid}:details",
            f"{redis_prefix}npc:npc-9:memory",
            f"{redis_prefix}ai:response:abc123",
            f"{redis_prefix}session:tok9:data",
        }
        assert 0 < await r.ttl(f"{redis_prefix}player:{p.player_id}:profile") <= 120
        assert 0 < await r.ttl(f"{redis_prefix}session:tok9:data") <= 30
    finally:
        await r.aclose()
    assert await svc.cached_ai_response("abc123") == {"text": "Hey."}
    await svc.close()


async def test_resume_on_another_instance(
    redis_url: str, redis_prefix: str, make_config: Callable[..., Config], tmp_path: object
) -> None:
    a = PersistenceService(make_config(redis_url=redis_url, redis_prefix=redis_prefix))
    b = PersistenceService(
        make_config(
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            sqlite_path=f"{tmp_path}/other.db",
            journal_path=f"{tmp_path}/other.journal",
        )
    )
    await a.start()
    await b.start()
    s = ResumeSession("shared-token", "pid-1", "amanda", time.time() + 60, {"net_id": 12})
    await a.save_session(s)
    assert await b.take_session("shared-token") == s
    assert await a.take_session("shared-token") is None  # taken once, across instances
    await a.close()
    await b.close()


async def test_redis_cut_degrades_the_cache_and_nothing_stops(
    redis_url: str, redis_prefix: str, make_config: Callable[..., Config]
) -> None:
    target = urlsplit(redis_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    cfg = make_config(
        redis_url=f"redis://127.0.0.1:{proxy.port}/0", redis_prefix=redis_prefix, redis_timeout=0.3
    )
    reg = CollectorRegistry()
    svc = PersistenceService(cfg, reg)
    await svc.start()
    assert svc.health()["redis"]["status"] == "ok"
    p = await svc.load_or_create_player("franklin")
    await svc.cache_ai_response("h1", "cached")
    proxy.cut()
    svc.cache.l1.clear()  # force lookups through to the (dead) L2
    t0 = time.monotonic()
    assert await svc.cached_ai_response("h1") is None  # a miss, not an error
    assert (await svc.load_or_create_player("franklin")).player_id == p.player_id
    newbie = await svc.load_or_create_player("newbie")
    await svc.save_session(ResumeSession("t-cut", newbie.player_id, "newbie", time.time() + 30))
    got = await svc.take_session("t-cut")  # saved in the database instead, found there
    assert got is not None and got.player_id == newbie.player_id
    assert time.monotonic() - t0 < 2.0  # failing fast, not waiting on timeouts each call
    h = svc.health()["redis"]
    assert h["status"] == "degraded" and "error" in h
    text = generate_latest(reg).decode()
    assert "ganggpt_cache_redis_up 0.0" in text
    assert "ganggpt_cache_redis_errors_total" in text
    assert svc.health()["database"]["status"] == "ok"
    proxy.restore()
    await eventually(lambda: svc.health()["redis"]["status"] == "ok", timeout=10, what="redis back")
    await svc.cache_ai_response("h2", "again")
    svc.cache.l1.clear()
    assert await svc.cached_ai_response("h2") == "again"
    await svc.close()
    await proxy.close()


def test_rediss_url_uses_tls(make_config: Callable[..., Config]) -> None:
    cfg = make_config(redis_url="rediss://cache.example:6380/0", redis_password="s3cret")
    svc = PersistenceService(cfg)
    assert svc.redis is not None
    pool = svc.redis.client.connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert pool.connection_kwargs["password"] == "s3cret"
    assert "s3cret" not in str(svc.cache.status())
