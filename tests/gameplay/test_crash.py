"""Exactly once across a crash: a completion killed with SIGKILL right after its commit (before
the reply), then sent again by the client to a fresh process, pays and shifts once. SQLite
file and PostgreSQL database, each process with its own persistence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import load_config
from server.ai.types import CallerInfo
from server.gameplay.factions import FactionService
from server.gameplay.metrics import GameplayMetrics
from server.gameplay.missions import MissionService
from server.persistence.service import PersistenceService
from tests.gameplay.support import FixedGenerator, context
from tests.persistence.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]


def _run(
    overrides: dict[str, Any], mid: str, pid: str, mode: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.gameplay.crash_completion",
            json.dumps(overrides),
            mid,
            pid,
            mode,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


async def _open(overrides: dict[str, Any]) -> PersistenceService:
    p = PersistenceService(load_config(**overrides), CollectorRegistry())
    await p.start()
    return p


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_completion_killed_after_commit_applies_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, Any] = {
        **FAST,
        "sqlite_path": str(tmp_path / "ganggpt.db"),
        "journal_path": str(tmp_path / "journal"),
    }
    if backend == "postgres":
        overrides["database_url"] = request.getfixturevalue("pg_url")
    p = await _open(overrides)
    try:
        for f in ("ballas", "vagos"):
            await p.repos.factions.create(f)
        pid = (await p.repos.players.load_or_create("cj")).player_id
        await p.repos.factions.join(pid, "ballas", "member")
        m = GameplayMetrics(CollectorRegistry())
        svc = MissionService(
            p.repos, FixedGenerator(), FactionService(p.repos, lambda e: None, m), lambda e: None, m
        )
        mid = (await svc.offer(context(pid), CallerInfo(pid))).mission_id
        await svc.accept(pid, mid)
    finally:
        await p.close()

    killed = _run(overrides, mid, pid, "kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == ""  # it died before replying

    again = _run(overrides, mid, pid, "normal")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout.strip().splitlines()[-1])
    assert out["result"]["repeated"] is True and out["result"]["balance"] == 750
    assert out["events"] == ["MissionCompleted"]  # announced now, never before
    twice = _run(overrides, mid, pid, "normal")
    assert json.loads(twice.stdout.strip().splitlines()[-1])["result"]["repeated"] is True

    p = await _open(overrides)
    try:
        assert (await p.repos.players.get(pid)).money == 750
        assert len(await p.repos.players.ledger(pid)) == 1
        (rel,) = (await p.repos.factions.state("ballas")).relationships
        assert (rel.faction_a, rel.faction_b, rel.strength) == ("ballas", "vagos", -15)
        assert (await p.repos.missions.offer_of(mid)).state == "completed"
    finally:
        await p.close()
