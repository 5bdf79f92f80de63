"""The AI benchmark's parts: its loopback provider answers the real `openai` client (through
the server's AI service), and its pass/fail rules. The benchmark itself is not a test."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from client_sdk.tools import bench
from client_sdk.tools.ai_provider import LoopbackProvider
from config import load_config
from server.ai.service import AiService
from server.ai.types import CallerInfo
from tests.ai.conftest import dialogue

P1 = CallerInfo("p1", "npc-7")


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackProvider]:
    p = LoopbackProvider(delay=0.05, actions=1.0, word_gap=0.0)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


def service(p: LoopbackProvider, **over: Any) -> AiService:
    config = load_config(ai_provider="openai", openai_base_url=p.base_url, ai_max_retries=0, **over)
    return AiService.from_config(config, CollectorRegistry())


async def test_the_loopback_provider_streams_a_reply_with_a_tool_call(
    provider: LoopbackProvider,
) -> None:
    svc = service(provider)
    try:
        reply = await svc.talk(dialogue("Follow me."), P1)
    finally:
        await svc.close()
    assert reply.outcome == "ok" and reply.text and reply.first_token_ms is not None
    assert [a.name for a in reply.actions] == ["follow_player"]
    assert provider.stats["streamed"] == 1 and provider.stats["tool_calls"] == 1


async def test_a_failing_loopback_provider_gets_offline_fallbacks(
    provider: LoopbackProvider,
) -> None:
    provider.fail = 1.0
    svc = service(provider, ai_breaker_threshold=2)
    try:
        replies = [await svc.talk(dialogue(f"Hello {i}?"), P1) for i in range(3)]
    finally:
        await svc.close()
    assert [r.outcome for r in replies] == ["error", "error", "fallback"]
    assert all(r.text and r.provider == "offline" for r in replies)
    assert provider.stats["failed"] == 2  # the open breaker kept the third call home


def test_ai_pass_fail() -> None:
    good: dict[str, Any] = {
        "players": 10,
        "connected": 10,
        "tick_p99_ms": 8.0,
        "overruns": 0,
        "provider_fail": 1.0,
        "talk": {"sent": 5, "missing": 0, "reply_ms": {"p99": 900.0}},
    }
    assert bench.ai_failures(good) == []
    slow = {**good, "talk": {"sent": 5, "missing": 1, "reply_ms": {"p99": 1500.0}}}
    assert bench.ai_failures(slow) == ["missing_replies", "fallback_p99_ms"]
    # A slow model is not a slow fallback: the 1 s rule is for the failing provider only.
    assert bench.ai_failures({**slow, "provider_fail": 0.0, "overruns": 3}) == [
        "overruns",
        "missing_replies",
    ]
    assert bench.ai_failures({**good, "talk": {"sent": 0}}) == ["no_talks", "fallback_p99_ms"]


def test_ai_metrics_are_read_from_a_scrape() -> None:
    s = bench.Scrape(at=0.0)
    bench.parse_metrics(
        'ganggpt_ai_requests_total{provider="openai",purpose="dialogue",outcome="ok"} 7.0\n'
        'ganggpt_ai_requests_total{provider="openai",purpose="mission",outcome="ok"} 2.0\n'
        'ganggpt_npc_actions_total{action="flee",result="rejected",reason="too_far"} 3.0\n'
        'ganggpt_npc_actions_total{action="flee",result="applied",reason="none"} 1.0\n',
        s,
    )
    assert s.ai_dialogue == {"ok": 7.0}
    assert s.npc_actions == {"rejected:too_far": 3.0, "applied": 1.0}


def test_the_servers_first_token_histogram_is_read_per_window() -> None:
    a, b = bench.Scrape(at=0.0), bench.Scrape(at=10.0)
    name = 'ganggpt_ai_first_token_seconds_bucket{provider="openai",purpose="dialogue",le='
    lines = [f'{name}"{le}"}} {n}' for le, n in (("1.0", 0), ("2.0", 0), ("3.0", 10), ("+Inf", 10))]
    bench.parse_metrics("\n".join(lines), b)
    assert b.first_token is not None and b.first_token.count == 10
    assert bench.tick_percentile(a, b.first_token, 50) == 2500.0  # ms, inside the 2-3 s bucket


def test_the_servers_whole_talk_histogram_is_read_per_window() -> None:
    a, b = bench.Scrape(at=0.0), bench.Scrape(at=10.0)
    rows = (("0.025", 4), ("0.05", 9), ("0.1", 10), ("+Inf", 10))
    bench.parse_metrics(
        "\n".join(f'ganggpt_npc_talk_seconds_bucket{{le="{le}"}} {n}' for le, n in rows), a
    )
    rows = (("0.025", 40), ("0.05", 90), ("0.1", 109), ("+Inf", 110))
    bench.parse_metrics(
        "\n".join(f'ganggpt_npc_talk_seconds_bucket{{le="{le}"}} {n}' for le, n in rows), b
    )
    assert a.npc_talk is not None and b.npc_talk is not None and b.npc_talk.count == 110
    # 100 talks in the window: 36 <= 25 ms, 81 <= 50 ms, 99 <= 100 ms, 1 slower
    assert bench.tick_percentile(a.npc_talk, b.npc_talk, 50) == pytest.approx(25 + 25 * 14 / 45)
    assert bench.tick_percentile(a.npc_talk, b.npc_talk, 99) == pytest.approx(100.0)
    assert bench.percentile_bucket(a.npc_talk, b.npc_talk, 99) == [50.0, 100.0]
    assert bench.percentile_bucket(a.npc_talk, b.npc_talk, 100) == [100.0, math.inf]


def test_ai_runs_against_the_plain_run() -> None:
    plain: dict[str, Any] = {"mode": "plain", "tick_p99_ms": 9.4, "overruns": 2,
                             "tick_p99_bucket_ms": [9.0, 10.0]}  # fmt: skip
    row: dict[str, Any] = {"tick_p99_ms": 10.3, "overruns": 7}
    bench.versus_plain(row, plain)
    assert row["tick_p99_vs_plain_ms"] == pytest.approx(0.9) and row["overruns_vs_plain"] == 5
    assert row["within_plain"] is True  # one bucket (1 ms) and 5 overruns of slack
    row = {"tick_p99_ms": 10.5, "overruns": 2}
    bench.versus_plain(row, plain)
    assert row["within_plain"] is False
    row = {"tick_p99_ms": 9.0, "overruns": 8}
    bench.versus_plain(row, plain)
    assert row["within_plain"] is False and row["overruns_vs_plain"] == 6
    row = {"tick_p99_ms": 9.0, "overruns": 0}
    bench.versus_plain(row, None)  # the plain run failed: no comparison, no verdict
    assert row["within_plain"] is None and row["tick_p99_vs_plain_ms"] is None
    # The plain run itself is held to all of the plain city's targets.
    city_miss = {**plain, "players": 10, "connected": 10, "patch_ratio_p5": 0.99,
                 "latency_p99_ms": 80.0, "kbps_median": 5.0, "rss_mb": 100.0}  # fmt: skip
    assert bench.ai_failures(city_miss) == ["tick_p99_ms", "overruns", "latency_p99_ms"]


def test_the_plain_run_is_on_unless_skipped() -> None:
    assert bench.build_parser().parse_args(["ai"]).no_plain is False
    assert bench.build_parser().parse_args(["ai", "--no-plain"]).no_plain is True
