"""Starting `ganggpt run`: what an operator sees, and what must never be seen.

Real processes on 127.0.0.1: a port already taken, secrets planted in every setting that can
hold one, misspelt variables, the bound address, /metrics, `--version` and `healthcheck`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from config import ConfigError, load_config
from config.checks import startup_warnings
from server.app import start_server
from server.logs import setup_logging, stop_logging
from server.persistence.memory import MemoryPersistence
from tests.e2e.support import ServerProcess, free_port, http_get, server_env

DB_PW = "PlantedDbPw1x"
REDIS_PW = "PlantedRedisPw2x"
PLANTED = {
    "JWT_SECRET": "PlantedJwt3x",
    "ENCRYPTION_KEY": "UGxhbnRlZEVuYzR4UGxhbnRlZEVuYzR4UGxhbnRlZCE=",
    "ENCRYPTION_KEYS_OLD": "T2xkUGxhbnRlZEtleTd4T2xkUGxhbnRlZEtleTd4ISE=",
    "OPENAI_API_KEY": "PlantedOpenai5x",
    "AZURE_OPENAI_KEY": "PlantedAzure6x",
    "REDIS_PASSWORD": REDIS_PW,
}
SECRETS = (DB_PW, REDIS_PW, *PLANTED.values())


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else is listening on."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_port_in_use_is_one_line_and_a_failing_exit(tmp_path: Path, held_port: int) -> None:
    env = server_env(held_port, tmp_path, log_level="info")
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # the old server hung here for ever on aiosqlite's thread
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if f"127.0.0.1:{held_port}" in ln]
    assert len(lines) == 1, r.stderr
    assert "cannot listen" in lines[0] and "in use" in lines[0], lines[0]
    assert r.stderr.rstrip().endswith(lines[0]), "the reason is the last thing said"
    assert time.monotonic() - t0 < 60


async def test_no_secret_is_printed_anywhere(
    tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Planted secrets in every setting that can hold one: none appears in `ganggpt config`,
    the log of a running server (debug level), /health, /metrics, or a config error."""
    db_url = pg_url.replace("postgres@", f"postgres:{DB_PW}@", 1)  # trust auth ignores it
    assert DB_PW in db_url
    rd_url = redis_url.replace("redis://", f"redis://:{REDIS_PW}@", 1)
    port = free_port()
    env = server_env(
        port,
        tmp_path,
        database_url=db_url,
        redis_url=rd_url,
        redis_prefix=redis_prefix,
        log_level="debug",
        npc_count=10,
        **PLANTED,
    )

    cfg_out = subprocess.run(
        [sys.executable, "-m", "server", "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cfg_out.returncode == 0, cfg_out.stderr
    assert not _leaks(cfg_out.stdout + cfg_out.stderr), cfg_out.stdout
    shown = orjson.loads(cfg_out.stdout)
    assert shown["database_url"].startswith("postgresql://postgres:***@127.0.0.1:5432/")
    assert shown["redis_url"].startswith("redis://:***@127.0.0.1:6379")
    assert shown["jwt_secret"] == "***"

    proc = ServerProcess(env, tmp_path / "server.log").start()
    try:
        await proc.wait_serving(60)
        _, health = await http_get(port, "/health")
        _, metrics = await http_get(port, "/metrics")
        assert b"postgres" in health and b"redis" in health
        assert not _leaks(health.decode()), health
        assert not _leaks(metrics.decode())
        hc = subprocess.run(
            [sys.executable, "-m", "server", "healthcheck"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert hc.returncode == 0, hc.stderr
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit(30) == 0
    finally:
        proc.stop()
    log = proc.log_tail(1_000_000)
    assert "listening on ws://127.0.0.1:" in log
    assert not _leaks(log), log
    # Accounts read both now: no "not used" warning, and neither value in any line.
    assert "JWT_SECRET is set but not used" not in log
    assert "ENCRYPTION_KEY is set but not used" not in log

    hc = subprocess.run(
        [sys.executable, "-m", "server", "healthcheck", "--timeout", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert hc.returncode == 1, "nothing is serving any more"

    bad = dict(env, DATABASE_URL=f"mysql://root:{DB_PW}@127.0.0.1/db", REDIS_URL="nope")
    err = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env=bad,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert err.returncode == 2
    assert "DATABASE_URL" in err.stderr and "REDIS_URL" in err.stderr
    assert "mysql://root:***@127.0.0.1/db" in err.stderr, err.stderr
    assert not _leaks(err.stderr), err.stderr


def test_a_secret_in_an_exception_is_redacted_from_the_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = load_config(database_url=f"postgresql://u:{DB_PW}@db.example/x", jwt_secret="Jwt-Value-9")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("info", "json", cfg.secrets())
    try:
        log = logging.getLogger("ganggpt.test")
        try:
            raise ConnectionError(f"could not connect to {cfg.database_url}")
        except ConnectionError:
            log.exception("database down (token %s)", cfg.jwt_secret)
    finally:
        stop_logging()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "could not connect to postgresql://u:***@db.example/x" in err, err
    assert DB_PW not in err and "Jwt-Value-9" not in err


def test_misspelt_variables_are_named_with_a_suggestion(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SEVER_PORT=9000\nMAXPLAYERS=10\nNPC_COUNT=5\n")
    environ = {"TICK_RATE": "30", "PATH": "/bin", "HOME": "/root", "REDIS_HOST": "x"}
    warnings = startup_warnings(load_config(), environ, env_file)
    text = "\n".join(warnings)
    assert "SEVER_PORT" in text and "did you mean SERVER_PORT?" in text
    assert "MAXPLAYERS" in text and "did you mean MAX_PLAYERS?" in text
    assert "TICK_RATE" in text and "did you mean TICKRATE?" in text
    assert "REDIS_HOST" in text  # a name with this server's prefix
    assert "NPC_COUNT" not in text and "PATH" not in text and "HOME" not in text
    assert "9000" not in text, "values are never shown"


def test_misspelt_variable_is_warned_by_ganggpt_run(tmp_path: Path, held_port: int) -> None:
    """Through the real command: the warning is logged before the port is even tried."""
    env = server_env(held_port, tmp_path, SEVER_PORT="9000")
    r = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "SEVER_PORT" in r.stderr and "did you mean SERVER_PORT?" in r.stderr, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "server", "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "did you mean SERVER_PORT?" in r.stderr, r.stderr
    assert orjson.loads(r.stdout)["server_port"] == held_port


@pytest.mark.parametrize(
    ("players", "npcs", "ok"),
    [(60000, 60000, False), (30000, 35535, False), (30000, 35534, True), (128, 200, True)],
)
def test_net_ids_must_fit_16_bits(players: int, npcs: int, ok: bool) -> None:
    if ok:
        load_config(max_players=players, npc_count=npcs, npc_spawn_capacity=0)
        return
    with pytest.raises(ConfigError) as e:
        load_config(max_players=players, npc_count=npcs, npc_spawn_capacity=0)
    assert "MAX_PLAYERS" in str(e.value) and "NPC_COUNT" in str(e.value)


def test_sqlite_path_is_resolved_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(sqlite_path="rel/game.db", journal_path="rel/journal")
    assert cfg.sqlite_path == str(tmp_path / "rel" / "game.db")
    assert cfg.journal_path == str(tmp_path / "rel" / "journal")
    assert load_config(sqlite_path="").sqlite_path == ""

    async def run() -> None:
        srv = await start_server(
            load_config(
                server_host="127.0.0.1",
                server_port=0,
                npc_count=5,
                sqlite_path="rel/game.db",
                persistence="on",
            ),
            MemoryPersistence(),
        )
        await srv.close(drain=False)

    with caplog.at_level(logging.INFO, logger="ganggpt"):
        asyncio.run(run())
    assert f"SQLite database at {tmp_path / 'rel' / 'game.db'}" in caplog.text


async def test_every_bound_socket_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """`localhost` binds 127.0.0.1 and, where there is IPv6, ::1: the log names each, as the
    kernel reports it, instead of a URL made from SERVER_HOST."""
    with caplog.at_level(logging.INFO, logger="ganggpt"):
        srv = await start_server(
            load_config(server_host="localhost", server_port=0, npc_count=5, sqlite_path=""),
            MemoryPersistence(),
        )
    try:
        names = [s.getsockname() for s in srv.tcp.sockets]
        line = next(r.getMessage() for r in caplog.records if "listening on" in r.getMessage())
        for name in names:
            host = f"[{name[0]}]" if ":" in name[0] else name[0]
            assert f"ws://{host}:{name[1]}/ws" in line, line
        assert "localhost" not in line.split("listening on", 1)[1], line
        assert len(srv.bound) == len(names)
    finally:
        await srv.close(drain=False)


async def test_metrics_have_process_series_and_no_created() -> None:
    srv = await start_server(
        load_config(server_host="127.0.0.1", server_port=0, npc_count=5, sqlite_path=""),
        MemoryPersistence(),
    )
    try:
        status, body = await http_get(srv.port, "/metrics")
    finally:
        await srv.close(drain=False)
    text = body.decode()
    assert status == 200
    assert "process_cpu_seconds_total" in text and "process_resident_memory_bytes" in text
    assert "python_info" in text
    assert "_created" not in text
    help_line = next(ln for ln in text.splitlines() if "HELP ganggpt_tick_duration_seconds" in ln)
    assert "sends included" not in help_line and "flush" in help_line


@pytest.mark.parametrize(
    "module",
    ["server", "client_sdk.tools.loadtest", "client_sdk.tools.bench", "client_sdk.bench"],
)
def test_every_command_has_version(module: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), r.stdout


class _LeakyPersistence(MemoryPersistence):
    """Health as a database driver might report it: its error quotes the URL it was given."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def health(self) -> dict[str, Any]:
        return {
            "database": {"status": "degraded", "last_error": f"cannot reach {self.url}"},
            "redis": {"status": "ok", "backend": "in-process"},
        }


async def test_health_redacts_whatever_a_check_reports() -> None:
    url = f"postgresql://admin:{DB_PW}@db.example:5432/game"
    cfg = load_config(
        server_host="127.0.0.1", server_port=0, npc_count=5, sqlite_path="", database_url=url
    )
    srv = await start_server(cfg, _LeakyPersistence(url))
    try:
        status, body = await http_get(srv.port, "/health")
    finally:
        await srv.close(drain=False)
    assert status == 200
    text = body.decode()
    assert "cannot reach postgresql://admin:***@db.example:5432/game" in text, text
    assert DB_PW not in text
