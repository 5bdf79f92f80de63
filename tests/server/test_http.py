"""/health and /metrics on the game port."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import orjson

from tests.server.conftest import Client, ServerFactory, open_client


async def _get(port: int, path: str) -> tuple[int, bytes, str]:
    def fetch() -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    return await asyncio.get_running_loop().run_in_executor(None, fetch)


async def test_health_has_the_seed_shape(start: ServerFactory) -> None:
    srv = await start()
    await asyncio.sleep(0.1)
    status, body, ctype = await _get(srv.port, "/health")
    assert status == 200 and ctype.startswith("application/json")
    h = orjson.loads(body)
    assert h["status"] == "healthy"
    assert {c["name"] for c in h["checks"]} >= {"database", "redis", "ai", "memory", "disk", "tick"}
    assert all({"name", "status", "details"} <= set(c) for c in h["checks"])
    assert h["timestamp"].endswith("+00:00")


async def test_health_is_503_while_draining(start: ServerFactory) -> None:
    srv = await start()
    srv.state.draining = True
    status, body, _ = await _get(srv.port, "/health")
    assert status == 503 and orjson.loads(body)["status"] == "unhealthy"
    srv.state.draining = False


async def test_metrics_count_frames_and_clients(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start()
    clients.append(await open_client(srv.url, "metered"))
    await clients[0].drain(0.3)
    await asyncio.sleep(0.6)  # the sweeper copies gauges twice a second
    status, body, ctype = await _get(srv.port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    text = body.decode()
    for name in (
        "ganggpt_tick_duration_seconds_bucket",
        "ganggpt_tick_overruns_total",
        "ganggpt_connected_clients 1.0",
        "ganggpt_frames_sent_total",
        "ganggpt_bytes_sent_total",
        'ganggpt_entities{kind="npc"} 50.0',
    ):
        assert name in text, name
    frames = next(
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("ganggpt_frames_sent_total")
    )
    assert frames >= 5


async def test_unknown_path_is_404(start: ServerFactory) -> None:
    srv = await start()
    status, _, _ = await _get(srv.port, "/nope")
    assert status == 404
