"""The full loop with no key, and a completion that survives kill -9, on real server processes.

- The README's "whole loop" example, run as written (only its URL changed) against
  `python -m server run` with the embedded defaults `make run` uses (SQLite file, offline AI).
- A mission completed by walking there, the server killed (os._exit, no cleanup) right after
  the completion's commit and before anything is sent (GANGGPT_TEST_EXIT_AFTER_MISSION_COMMIT),
  restarted on the same storage: the reward and the faction shift are there exactly once, the
  player resuming sees the completion, and claiming it again pays nothing. SQLite file and
  PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from client_sdk import Client, MissionRefusedError, Npc, connect
from config import load_config
from server.persistence.service import PersistenceService
from tests.e2e.conftest import SpawnServer

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def loop_snippet() -> str:
    return next(
        b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "request_mission(" in b
    )


async def test_readme_full_loop_runs_against_make_run_defaults(spawn_server: SpawnServer) -> None:
    srv = spawn_server()  # the defaults: 200 NPCs, offline AI, SQLite file
    await srv.wait_serving(30)
    code = loop_snippet().replace("ws://127.0.0.1:22005/ws", srv.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 90)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err + srv.log_tail()
    m = re.search(r"offered: .+, \$(\d+)\n", out)
    assert m, out
    reward = int(m.group(1))
    assert re.search(rf"completed: paid \${reward}, money now \${reward}\n", out), out
    assert "claimed again: paid $0" in out, out
    giver = re.search(r"^.+ \((\w+)\): .+$", out, re.M)
    assert giver, out
    if giver.group(1) != "none":  # a faction's job moves it against a rival
        assert re.search(rf"{giver.group(1)} and \w+: -\d+, now -\d+ \(\w+\)", out), out


async def _gang_npc(client: Client) -> int:
    await client.wait_until(
        lambda: sum(isinstance(e, Npc) for e in client.entities.values()) >= 5, timeout=15
    )
    ids = [n for n, e in client.entities.items() if isinstance(e, Npc)][:64]
    for who in await client.who(ids):
        if who.get("faction") in ("ballas", "vagos", "grove_street_families", "lost_mc"):
            return int(str(who["id"]))
    raise AssertionError("no gang NPC in view")


async def _walk(client: Client, x: float, y: float) -> None:
    await client.wait_until(lambda: client.me is not None)  # our own entity has arrived
    me = client.me
    assert me is not None
    steps = max(1, int(((x - me.x) ** 2 + (y - me.y) ** 2) ** 0.5 / 2.0) + 1)
    for i in range(1, steps + 1):
        f = i / steps
        client.move(me.x + (x - me.x) * f, me.y + (y - me.y) * f, me.z, me.heading)
        await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, workdir: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"SQLITE_PATH": str(workdir / "game.db")}
    pg_url: str = request.getfixturevalue("pg_url")
    return {"DATABASE_URL": pg_url}


async def test_completion_killed_after_commit_applies_once(
    spawn_server: SpawnServer, storage: dict[str, str], workdir: Path
) -> None:
    town: dict[str, Any] = {"NPC_COUNT": 120, "SPAWN_AREA_SIZE": 100, **storage}
    first = spawn_server(GANGGPT_TEST_EXIT_AFTER_MISSION_COMMIT="1", **town)
    await first.wait_serving(30)
    client = await connect(first.url, name="Runner", reconnect=False)
    try:
        npc = await _gang_npc(client)
        offer = await client.request_mission(npc, theme="a delivery")
        await client.accept_mission(offer.id)
        with pytest.raises(MissionRefusedError) as refused:
            await client.complete_mission(offer.id)
        assert refused.value.reason == "incomplete"
        goal = offer.objectives[0]
        assert goal.kind == "reach_place" and goal.x is not None and goal.y is not None
        player_id = client.player_id
        assert player_id is not None
        # The tracker completes it on arrival: commit, then the process exits at once.
        await _walk(client, goal.x, goal.y)
        rc = await first.wait_exit(30)
    finally:
        await client.close()
    assert rc == 137, first.log_tail()
    assert "exiting right after the commit" in first.log_tail()
    assert offer.id not in {m for m, i in client.known_missions.items() if i.status == "completed"}
    assert client.money is None  # nothing was told before the exit

    second = spawn_server(**town)
    await second.wait_serving(30)
    try:
        again = await connect(second.url, name="Runner")
    except Exception:
        raise AssertionError(second.log_tail()) from None
    async with again:
        assert again.player_id == player_id, second.log_tail() + first.log_tail()
        try:
            m = await again.complete_mission(offer.id)
        except TimeoutError:
            raise AssertionError(second.log_tail()) from None
        assert m.status == "completed" and m.repeated is True and m.paid == 0
        assert m.balance == offer.reward
        m2 = await again.complete_mission(offer.id)
        assert m2.repeated is True and m2.paid == 0 and m2.balance == offer.reward
        listed = {x.id: x.status for x in await again.missions()}
        assert listed[offer.id] == "completed"
    second.signal(signal.SIGTERM)
    await second.wait_exit(30)

    p = PersistenceService(
        load_config(
            sqlite_path=str(workdir / "game.db"),
            journal_path=str(workdir / "journal"),
            database_url=storage.get("DATABASE_URL"),
        ),
        CollectorRegistry(),
    )
    await p.start()
    try:
        record = await p.repos.players.get(player_id)
        assert record is not None and record.money == offer.reward
        ledger = await p.repos.players.ledger(player_id)
        assert [e.delta for e in ledger] == [offer.reward]
        (rival,) = [f for f in offer.faction_impact if f != offer.giver_faction]
        assert offer.giver_faction is not None
        state = await p.repos.factions.state(offer.giver_faction)
        assert state is not None
        strengths = {
            (r.faction_a, r.faction_b): r.strength
            for r in state.relationships
            if rival in (r.faction_a, r.faction_b)
        }
        assert list(strengths.values()) == [offer.faction_impact[rival]]
    finally:
        await p.close()


async def test_accepted_mission_survives_a_crash_and_is_tracked_after_restart(
    spawn_server: SpawnServer, workdir: Path
) -> None:
    """Killed (-9) with a mission accepted and not done: the restarted server tracks it again
    (restored at start), completes it when the player gets there, and pays once."""
    town: dict[str, Any] = {"NPC_COUNT": 120, "SPAWN_AREA_SIZE": 100}
    first = spawn_server(**town)
    await first.wait_serving(30)
    client = await connect(first.url, name="Survivor", reconnect=False)
    try:
        npc = await _gang_npc(client)
        offer = await client.request_mission(npc, theme="a delivery")
        await client.accept_mission(offer.id)
    finally:
        await client.close()
    first.signal(signal.SIGKILL)
    await first.wait_exit(30)

    second = spawn_server(**town)
    await second.wait_serving(30)
    async with connect(second.url, name="Survivor") as again:
        listed = {m.id: m for m in await again.missions()}
        assert listed[offer.id].status == "accepted"
        goal = offer.objectives[0]
        assert goal.x is not None and goal.y is not None
        await _walk(again, goal.x, goal.y)
        done = await again.wait_mission(offer.id, "completed", timeout=30)
        assert done.paid == offer.reward and again.money == offer.reward
