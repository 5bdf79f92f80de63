"""ganggpt-loadtest and the bench harness: a smoke run against a real server, plus the
pure helpers (percentiles, metric parsing, pass/fail). No timing asserts: numbers must only
be sane, since benchmarks are not tests."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys

import orjson
import pytest

from client_sdk.tools import bench, loadtest
from config import load_config
from server.app import start_server
from server.persistence.memory import MemoryPersistence
from tests.client_sdk.fake_server import FakeServer


async def run_cli(*args: str, timeout: float = 60.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mirror", [False, True], ids=["npc-tracker", "full-mirror"])
async def test_loadtest_smoke_20_bots_for_3_seconds(mirror: bool) -> None:
    """Five talkers find the NPC nearest them, by default with the lean NPC tracker, with
    --mirror through a full protocol mirror, and get their replies from a real server."""
    cfg = load_config(
        server_host="127.0.0.1",
        server_port=0,
        npc_count=100,
        spawn_area_size=300.0,
        max_players=30,
        log_level="warning",
        sqlite_path="",
    )
    srv = await start_server(cfg, MemoryPersistence())
    try:
        code, out, err = await run_cli(
            "-m", "client_sdk.tools.loadtest", srv.url, "--bots", "20", "--duration", "3",
            "--warmup", "0.5", "--ramp", "100", "--talk-share", "0.25", "--talk-every", "1",
            "--progress", "plain", "--markers", "--area", "300", *(["--mirror"] if mirror else []),
        )  # fmt: skip
    finally:
        await srv.close(drain=False)
    assert code == 0, err
    res = orjson.loads(out.strip().splitlines()[-1])  # ONE JSON line, last on stdout
    assert res["connected"] == 20 and res["connect_failures"] == 0
    assert res["disconnects"] == 0
    assert res["patch_ratio_p5"] > 0.5
    lat = res["latency_ms"]
    assert lat["samples"] > 0 and math.isfinite(lat["p50"]) and math.isfinite(lat["p99"])
    assert 0 <= lat["p50"] <= lat["p99"] < 5000
    assert res["kbps"]["median"] > 0 and res["enters"] >= 0
    assert res["errors"] == 0, res["error_names"]
    assert res["talks_sent"] >= 1
    talk = res["talk"]  # talks sent in the window: each replied, missing or unfinished
    assert talk["replied"] + talk["missing"] + talk["unfinished"] == talk["sent"]
    assert talk["missing"] == 0 and talk["replied"] >= 1
    assert "@@window-open" in err and "@@window-close" in err
    assert "ganggpt-loadtest results" in out


@pytest.mark.timeout(60)
async def test_linger_keeps_bots_in_the_world_after_the_window() -> None:
    """The bench scrapes the server when the window closes: with --linger the bots are all
    still playing at that moment, and leave only afterwards."""
    cfg = load_config(
        server_host="127.0.0.1", server_port=0, npc_count=0, max_players=20,
        log_level="warning", sqlite_path="",
    )  # fmt: skip
    srv = await start_server(cfg, MemoryPersistence())
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client_sdk.tools.loadtest", srv.url, "--bots", "5",
            "--duration", "1", "--warmup", "0", "--linger", "1.5", "--progress", "plain",
            "--markers", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stderr is not None
        async with asyncio.timeout(40):
            async for line in proc.stderr:
                if line.startswith(b"@@window-close"):
                    break
            assert srv.state.player_count == 5  # still there once the window closed
            await proc.communicate()
        assert proc.returncode == 0
        assert srv.state.player_count == 0  # and gone once the tool exits
    finally:
        await srv.close(drain=False)


@pytest.mark.timeout(60)
async def test_bots_that_cannot_join_make_the_run_fail() -> None:
    """More bots than MAX_PLAYERS: the run completes with the ones that joined, and exits 1
    naming how many were refused and why (it used to exit 0)."""
    cfg = load_config(
        server_host="127.0.0.1", server_port=0, npc_count=0, max_players=3,
        log_level="warning", sqlite_path="",
    )  # fmt: skip
    srv = await start_server(cfg, MemoryPersistence())
    try:
        code, out, err = await run_cli(
            "-m", "client_sdk.tools.loadtest", srv.url, "--bots", "5", "--duration", "1",
            "--warmup", "0", "--ramp", "100", "--progress", "none",
        )  # fmt: skip
    finally:
        await srv.close(drain=False)
    assert code == 1, err
    res = orjson.loads(out.strip().splitlines()[-1])
    assert res["connected"] == 3 and res["connect_failure_reasons"] == {"SERVER_FULL": 2}
    assert "2 of 5 bots did not join (SERVER_FULL x2)" in err


async def test_fast_receive_path_answers_pings_and_sees_closes() -> None:
    """In-process run against the fake server: it pings every 0.2 s and drops a client that
    does not answer within 1 s, streams 30 Hz frames, and kicks one bot mid-run."""
    srv = FakeServer(ping_interval=0.2, ping_timeout=1.0)
    srv.stream_rate = 30.0
    await srv.start()
    opts = loadtest.Options(url=srv.url, bots=4, duration=1.5, warmup=0.3, ramp=100.0,
                            progress="none", input_rate=10.0)  # fmt: skip
    try:
        task = asyncio.create_task(loadtest.run_loadtest(opts))
        await asyncio.sleep(1.2)
        victim = srv.by_name("bot3")
        await srv.close_player(victim, 4011, "kicked")
        res = await asyncio.wait_for(task, 20)
    finally:
        await srv.close()
    assert res["connected"] == 4
    assert res["disconnect_codes"] == {"KICKED": 1}  # nobody else was dropped for missing pongs
    assert res["patch_ratio_median"] > 0.5
    assert res["errors"] == 0
    assert len([n for n, _, _ in srv.inputs if n]) > 10  # the hand-built INPUT frames decode


@pytest.mark.parametrize(
    "args",
    [
        ["client_sdk.tools.loadtest", "--help"],
        ["client_sdk.tools.bench", "--help"],
        ["client_sdk.tools.bench", "city", "--help"],
        ["client_sdk.tools.bench", "idle", "--help"],
        ["client_sdk.tools.bench", "ai", "--help"],
    ],
)
async def test_help(args: list[str]) -> None:
    code, out, _ = await run_cli("-m", *args, timeout=30)
    assert code == 0 and "usage" in out.lower()


def test_loadtest_url_policy() -> None:
    assert loadtest.check_url("ws://127.0.0.1:1/ws", explicit=False)
    assert loadtest.check_url("ws://localhost:1/ws", explicit=False)
    assert loadtest.check_url("ws://[::1]:1/ws", explicit=False)
    assert loadtest.check_url("wss://game.example:443/ws", explicit=True)
    with pytest.raises(SystemExit):
        loadtest.check_url("ws://game.example/ws", explicit=False)
    with pytest.raises(SystemExit):
        loadtest.check_url("http://127.0.0.1/ws", explicit=True)


def test_latency_histogram_percentiles() -> None:
    lat = loadtest.Latency()
    lat.measuring = True
    lat.recent.extend(i / 1000.0 for i in range(1, 101))  # 1..100 ms
    assert lat.fold()[0] == pytest.approx(0.001)
    assert lat.percentile(50) == pytest.approx(50.1, abs=0.11)
    assert lat.percentile(99) == pytest.approx(99.1, abs=0.11)
    lat.recent.extend([-0.5, 99.0])  # clock skew and a stall both land somewhere
    lat.fold()
    assert lat.count == 102
    assert loadtest.percentile([], 50) is None
    assert loadtest.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert loadtest.percentile([float(i) for i in range(1, 101)], 5) == 5.0


METRICS_A = """# HELP ganggpt_tick_duration_seconds x
ganggpt_tick_duration_seconds_bucket{le="0.001"} 100.0
ganggpt_tick_duration_seconds_bucket{le="0.002"} 150.0
ganggpt_tick_duration_seconds_bucket{le="0.008"} 200.0
ganggpt_tick_duration_seconds_bucket{le="+Inf"} 200.0
ganggpt_tick_duration_seconds_count 200.0
ganggpt_tick_duration_seconds_sum 0.2
ganggpt_tick_overruns_total 1.0
ganggpt_ticks_total 200.0
ganggpt_connected_clients 5.0
"""

METRICS_B = METRICS_A.replace('le="0.001"} 100.0', 'le="0.001"} 150.0').replace(
    'le="0.002"} 150.0', 'le="0.002"} 240.0'
)
METRICS_B = (
    METRICS_B.replace('le="0.008"} 200.0', 'le="0.008"} 299.0')
    .replace('le="+Inf"} 200.0', 'le="+Inf"} 300.0')
    .replace("_count 200.0", "_count 300.0")
    .replace("_sum 0.2", "_sum 0.35")
    .replace("overruns_total 1.0", "overruns_total 3.0")
    .replace("ticks_total 200.0", "ticks_total 300.0")
)


def test_window_stats_from_two_scrapes() -> None:
    a, b = bench.Scrape(at=10.0), bench.Scrape(at=12.0)
    bench.parse_metrics(METRICS_A, a)
    bench.parse_metrics(METRICS_B, b)
    assert a.clients == 5 and b.count == 300
    # window: 100 ticks; 50 <= 1 ms, 90 <= 2 ms, 99 <= 8 ms, 1 past the last bucket
    assert bench.tick_percentile(a, b, 50) == 1.0  # the 50th tick is the last <= 1 ms
    # Interpolated within the bucket: the 60th is the 10th of the 40 ticks in (1, 2] ms.
    assert bench.tick_percentile(a, b, 60) == pytest.approx(1.25)
    assert bench.tick_percentile(a, b, 99) == 8.0
    assert bench.tick_percentile(a, b, 100) == math.inf
    assert bench.tick_max_bucket(a, b) == math.inf
    ws = bench.window_stats(a, b)
    assert ws["overruns"] == 2 and ws["tick_rate"] == 50.0
    assert ws["tick_mean_ms"] == pytest.approx(1.5)


def test_pass_fail_against_the_issue_targets() -> None:
    good = {
        "players": 10,
        "connected": 10,
        "tick_p99_ms": 8.0,
        "overruns": 0,
        "patch_ratio_p5": 0.95,
        "latency_p99_ms": 50.0,
        "kbps_median": 8.0,
        "rss_mb": 1024.0,
        "disconnects": 0,
    }
    assert bench.failures(good) == []
    assert bench.failures({**good, "tick_p99_ms": 10.0}) == ["tick_p99_ms"]
    assert bench.failures({**good, "patch_ratio_p5": None}) == ["patch_ratio_p5"]
    assert bench.failures({**good, "connected": 9, "disconnects": 1}) == [
        "connected",
        "disconnects",
    ]


def test_proc_usage_of_this_process() -> None:
    import os

    cpu, rss, hwm = bench.proc_usage(os.getpid())
    assert cpu > 0 and rss > 1 << 20 and hwm >= rss


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_bench_city_end_to_end_tiny() -> None:
    """The whole harness: server subprocess, loadtest subprocess, scrapes, JSON shape."""
    code, out, err = await run_cli(
        "-m", "client_sdk.tools.bench", "city", "--players", "5", "--duration", "2",
        "--warmup", "0.5", "-q", timeout=170,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    res = orjson.loads(out.strip().splitlines()[-1])
    assert res["scenario"] == "city"
    (run,) = res["runs"]
    for key in (
        "players", "npcs", "tick_p50_ms", "tick_p99_ms", "overruns", "patch_ratio_p5",
        "latency_p50_ms", "latency_p99_ms", "kbps_median", "server_cpu_pct", "rss_mb",
        "disconnects",
    ):  # fmt: skip
        assert key in run, key
    assert run["players"] == 5 and run["npcs"] == 50 and run["connected"] == 5
    assert run["tick_p50_ms"] is not None and run["rss_mb"] > 10


def test_the_sdk_carries_no_tool_dependency() -> None:
    """A game client installs the SDK: it imports without `rich`, which only the tools (the
    `tools` extra) need; without the extra a tool says what to install."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("rich") for d in project["dependencies"])
    assert any(d.startswith("rich") for d in project["optional-dependencies"]["tools"])
    assert project["scripts"]["ganggpt-loadtest"] == "client_sdk.tools.loadtest:main"
    no_rich = "import sys; sys.modules['rich'] = None; "
    r = subprocess.run(
        [sys.executable, "-c", no_rich + "import client_sdk, client_sdk.client; print('ok')"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    for tool in ("client_sdk.tools.loadtest", "client_sdk.tools.bench"):
        r = subprocess.run(
            [sys.executable, "-c", f"{no_rich}import {tool}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode != 0 and "ganggpt-server[tools]" in r.stderr, r.stderr
