"""Run one mission completion in a process of its own (tests/gameplay/test_crash.py).

    python -m tests.gameplay.crash_completion CONFIG_JSON MISSION_ID PLAYER_ID kill|normal

`kill` sends this process SIGKILL right after the completion's commit, before any reply or
event: what a crash between the commit and the reply looks like. `normal` completes (or
repeats) and prints the result and the events as one JSON line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys

from prometheus_client import CollectorRegistry

from config import load_config
from server.gameplay.events import GameplayEvent
from server.gameplay.factions import FactionService
from server.gameplay.metrics import GameplayMetrics
from server.gameplay.missions import MissionService
from server.gameplay.objectives import check_objectives
from server.persistence.service import PersistenceService
from tests.gameplay.support import FixedGenerator, view


def _die(mission_id: str, player_id: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(config_json: str, mission_id: str, player_id: str, mode: str) -> None:
    p = PersistenceService(load_config(**json.loads(config_json)), CollectorRegistry())
    await p.start()
    events: list[GameplayEvent] = []
    metrics = GameplayMetrics(CollectorRegistry())
    factions = FactionService(p.repos, events.append, metrics)
    missions = MissionService(
        p.repos,
        FixedGenerator(),
        factions,
        events.append,
        metrics,
        after_commit=_die if mode == "kill" else None,
    )
    await missions.restore()
    state = missions.active.get(mission_id)
    if state is not None:  # verify the objectives as the tracker would
        missions.advance(
            state,
            check_objectives(
                state, view(0, {player_id: (600, 95.0, 0.0)}, talked={player_id: {3}})
            ),
        )
    result = await missions.complete(player_id, mission_id)
    print(
        json.dumps(
            {
                "result": dataclasses.asdict(result),
                "events": [type(e).__name__ for e in events],
            }
        ),
        flush=True,
    )
    await p.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
