"""Micro-benchmark of the admin console's `metrics` push: not a test, no assertion.

    .venv/bin/python -m tests.admin.bench_metrics_push [--npcs 10000] [--repeat 7] [--samples 50]

Starts a real server in-process (memory persistence, offline AI), gives its registry the
labelled series some traffic leaves behind (closes and errors by code, refusals by reason, GC
pauses by generation, AI calls by provider, purpose and outcome, ...), lets it tick, then
prints the CPU cost (process time, best of `--repeat`, so other processes on a shared box
count less) of building one push (`MetricsView.sample`), which runs once a second on the
event loop while a console or dashboard is subscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence


def traffic(srv: Server) -> None:
    """The labelled series a server has after a while: every one a scrape would list."""
    m = srv.state.metrics
    for code in ("bad_frame", "rate_limited", "not_joined", "bad_json", "unknown_op"):
        m.errors.labels(code).inc(3)
    for close in ("1000", "1001", "1008", "4000", "4001", "4008"):
        m.closes.labels(close).inc(2)
    for reason in ("ip_connections", "handshake_rate", "origin", "path", "full", "auth"):
        m.connections_refused.labels(reason).inc()
    for gen in ("0", "1", "2"):
        for v in (0.0004, 0.002, 0.011):
            m.gc_seconds.labels(gen).observe(v)
    ai = srv.state.game.talks.ai.metrics
    for provider in ("offline", "openai"):
        for purpose in ("dialogue", "mission", "companion"):
            for outcome in ("ok", "timeout", "error", "fallback", "invalid"):
                ai.requests.labels(provider, purpose, outcome).inc(5)
            ai.errors.labels(provider, purpose, "timeout").inc()
            ai.fallbacks.labels(provider, purpose, "breaker").inc()
            for v in (0.2, 0.8, 2.5):
                ai.first_token.labels(provider, purpose).observe(v)
                ai.latency.labels(provider, purpose).observe(v * 2)
            ai.cache.labels(purpose, "hit").inc()
            ai.cache.labels(purpose, "miss").inc()
            ai.invalid.labels(purpose, "schema").inc()
        for direction in ("in", "out"):
            ai.tokens.labels(provider, direction).inc(1234)
        ai.cost.labels(provider).inc(0.0123)
    for action in ("offer_mission", "follow", "flee", "give_money", "share_rumour"):
        for result in ("proposed", "accepted", "rejected"):
            ai.actions.labels(action, result).inc()


async def run(a: argparse.Namespace) -> None:
    cfg = load_config(
        server_host="127.0.0.1",
        server_port=0,
        npc_count=a.npcs,
        log_level="warning",
        sqlite_path="",
    )
    srv = await start_server(cfg, MemoryPersistence())
    try:
        traffic(srv)
        metrics = srv.state.metrics
        while metrics.ticks._value.get() < 60:  # a second of ticks in the histograms
            await asyncio.sleep(0.05)
        assert srv.state.admin is not None
        view = srv.state.admin.metrics
        view.sample()
        best = float("inf")
        for _ in range(a.repeat):
            t = time.process_time()
            for _ in range(a.samples):
                view.sample()
            best = min(best, (time.process_time() - t) / a.samples)
        print(f"npcs={a.npcs} one metrics push (MetricsView.sample): {best * 1e6:.1f} us")
    finally:
        await srv.close(drain=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--npcs", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--samples", type=int, default=50)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
