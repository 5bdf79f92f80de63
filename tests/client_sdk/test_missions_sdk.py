"""The SDK's mission calls and typed events: against the real server (in-process, port 0) and
on the protocol vectors' own `event` examples."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_sdk import (
    Client,
    GameEventReceived,
    MissionCompleted,
    MissionOffered,
    MissionProgressed,
    MissionRefusedError,
    MoneyChanged,
    Npc,
    connect,
)
from client_sdk.missions import typed_event
from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence

pytestmark = pytest.mark.timeout(60)

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "control_messages.json"
TOWN: dict[str, Any] = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 60,
    "spawn_area_size": 60.0,
    "log_level": "warning",
    "sqlite_path": "",
    "mission_check_interval": 0.1,
}


def vector(name: str) -> dict[str, Any]:
    case = next(c for c in json.loads(VECTORS.read_text()) if c["name"] == name)
    decoded: dict[str, Any] = case["decoded"]
    return decoded


def test_vector_events_become_typed_events() -> None:
    offered = vector("event_mission_offered")
    ev = typed_event(GameEventReceived(offered["type"], offered["data"]))
    assert isinstance(ev, MissionOffered)
    m = ev.mission
    assert (m.status, m.reward, m.giver_npc, m.giver_faction) == ("offered", 340, 1000, "ballas")
    assert m.faction_impact == {"ballas": 4, "vagos": -2}
    (goal,) = m.objectives
    assert (goal.kind, goal.x, goal.y, goal.radius_m, goal.done) == (
        "reach_place",
        12.5,
        80.0,
        15.0,
        False,
    )
    escort = vector("event_mission_offered_escort")
    ev_escort = typed_event(GameEventReceived(escort["type"], escort["data"]))
    assert isinstance(ev_escort, MissionOffered)
    (bring,) = ev_escort.mission.objectives
    assert (bring.kind, bring.npc_id, bring.npc_name, bring.place) == (
        "bring_npc",
        1003,
        "Lamar Davis",
        "the motel to the west",
    )
    assert goal.npc_name is None  # a place objective names nobody
    done = vector("event_mission_completed")
    ev2 = typed_event(GameEventReceived(done["type"], done["data"]))
    assert isinstance(ev2, MissionCompleted)
    assert ev2.mission.paid == 340 and ev2.mission.repeated is False
    assert [(r.faction, r.other, r.strength) for r in ev2.mission.relations] == [
        ("ballas", "vagos", -2)
    ]
    progress = vector("event_mission_progress")
    ev3 = typed_event(GameEventReceived(progress["type"], progress["data"]))
    assert ev3 == MissionProgressed(offered["data"]["id"], ((0.45, False),), False)
    money = vector("event_money")
    assert typed_event(GameEventReceived("money", money["data"])) == MoneyChanged(
        1250, 250, "taxi fare"
    )


@given(
    kind=st.sampled_from(["mission", "mission.progress", "mission.list", "money", "x.y"]),
    data=st.dictionaries(
        st.sampled_from(["id", "status", "objectives", "missions", "money", "reward", "giver"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.lists(st.integers(), max_size=2),
            st.sampled_from(["offered", "completed"]),
        ),
    ),
)
def test_broken_event_data_never_raises(kind: str, data: dict[str, Any]) -> None:
    """Whatever a server sends, the typed layer yields an event or None, never an exception
    (the raw GameEventReceived is still delivered)."""
    typed_event(GameEventReceived(kind, data))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await start_server(load_config(**TOWN), MemoryPersistence())
    try:
        yield srv
    finally:
        await srv.close(drain=False)


async def some_npc(c: Client) -> int:
    await c.wait_until(lambda: any(isinstance(e, Npc) for e in c.entities.values()))
    return next(n for n, e in c.entities.items() if isinstance(e, Npc))


async def test_sdk_mission_calls_refusals_and_typed_state(server: Server) -> None:
    async with connect(server.url, name="sdk-courier") as c:
        npc = await some_npc(c)
        with pytest.raises(MissionRefusedError) as err:
            await c.accept_mission("nope")
        assert err.value.reason == "unknown_mission"
        with pytest.raises(MissionRefusedError) as err:
            await c.request_mission(65000)
        assert err.value.reason == "unknown_entity"

        offered: list[MissionOffered] = []
        c.on(MissionOffered, offered.append)
        first = await c.request_mission(npc, theme="a delivery")
        assert first.status == "offered" and first.giver_npc == npc
        assert [o.mission.id for o in offered] == [first.id]
        second = await c.request_mission(npc, theme="a stakeout")
        gone = await c.abandon_mission(second.id)
        assert gone.status == "failed" and gone.reason == "abandoned"

        accepted = await c.accept_mission(first.id)
        assert accepted.status == "accepted" and accepted.deadline is not None
        with pytest.raises(MissionRefusedError) as err:
            await c.complete_mission(first.id)
        assert err.value.reason == "incomplete"

        goal = first.objectives[0]
        assert goal.x is not None and goal.y is not None and c.me is not None
        me = c.me
        steps = 100
        for i in range(1, steps + 1):  # paced walk (~40 m/s at most), not a timing check
            f = i / steps
            c.move(me.x + (goal.x - me.x) * f, me.y + (goal.y - me.y) * f, me.z, me.heading)
            await asyncio.sleep(0.05)
        done = await c.wait_mission(first.id, "completed", timeout=20)
        assert done.paid == first.reward and c.money == first.reward
        again = await c.complete_mission(first.id)
        assert again.repeated is True and again.paid == 0 and again.balance == first.reward

        listed = {m.id: m.status for m in await c.missions()}
        assert listed == {first.id: "completed", second.id: "failed"}
        assert c.known_missions[first.id].status == "completed"
