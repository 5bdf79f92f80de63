"""The example game mode (server/game/modes/taxi.py) played end to end through the SDK."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

from client_sdk import (
    Client,
    CustomReceived,
    EntityUpdated,
    ErrorReceived,
    GameEventReceived,
    Npc,
    connect,
)
from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence

pytestmark = pytest.mark.timeout(90)

TAXI_TOWN = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 10,
    "spawn_area_size": 100.0,  # driver and observer in one view
    "player_max_speed": 200.0,  # a taxi, and a test that should not take minutes
    "log_level": "warning",
    "sqlite_path": "",
    "game_modules": "server.game.modes.taxi",
}


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await start_server(load_config(**TAXI_TOWN), MemoryPersistence())
    try:
        yield srv
    finally:
        await srv.close(drain=False)


async def drive_to(c: Client, x: float, y: float, within: float) -> None:
    """Drive in a straight line at ~80 m/s, one input every 50 ms, until within `within` m."""
    me = c.mirror.local
    assert me is not None
    px, py, pz, _ = me
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while math.hypot(x - px, y - py) > within * 0.5:
        assert loop.time() < deadline, "did not arrive"
        d = math.hypot(x - px, y - py)
        step = min(4.0, d)
        px += (x - px) / d * step
        py += (y - py) / d * step
        heading = math.degrees(math.atan2(x - px, y - py)) % 360
        c.move(px, py, pz, heading)
        await asyncio.sleep(0.05)


async def test_taxi_job_end_to_end(server: Server) -> None:
    async with (
        connect(server.url, name="driver") as driver,
        connect(server.url, name="watcher") as watcher,
    ):
        events: list[object] = []
        driver.on(GameEventReceived, events.append)
        driver.on(ErrorReceived, events.append)
        watcher_updates: list[EntityUpdated] = []
        watcher.on(EntityUpdated, watcher_updates.append)
        await asyncio.sleep(0.3)  # a first step is judged against a quarter second of budget

        fare_next = asyncio.ensure_future(driver.wait_custom("taxi.fare"))
        await driver.send_custom("taxi.start")
        fare = await fare_next
        npc = int(fare.data["npc"])
        await driver.wait_until(lambda: isinstance(driver.entities.get(npc), Npc), 10)

        # Listen before driving: the answer may come while we are still on the way.
        ride_next = asyncio.ensure_future(driver.wait_custom("taxi.ride", timeout=40))
        await drive_to(driver, fare.data["x"], fare.data["y"], fare.data["radius"])
        ride = await ride_next
        assert ride.data["npc"] == npc

        # The passenger follows the driver: a world command made by game code reaches the
        # other client as ordinary PATH records (a changed path of that NPC).
        def following() -> bool:
            return any(
                u.entity.net_id == npc and isinstance(u.entity, Npc) for u in watcher_updates
            )

        paid_next = asyncio.ensure_future(driver.wait_custom("taxi.paid", timeout=40))
        await drive_to(driver, ride.data["x"], ride.data["y"], ride.data["radius"])
        paid = await paid_next
        assert paid.data["fare"] > 50 and paid.data["money"] == paid.data["fare"]
        await driver.wait_until(
            lambda: any(isinstance(e, GameEventReceived) and e.type == "money" for e in events), 5
        )
        money = next(e for e in events if isinstance(e, GameEventReceived) and e.type == "money")
        assert money.data == {
            "money": paid.data["fare"],
            "delta": paid.data["fare"],
            "reason": "taxi fare",
        }
        assert not [e for e in events if isinstance(e, ErrorReceived)]
        await watcher.wait_until(following, 5)
        player = server.state.players[driver.player_id or ""]
        assert player.money == paid.data["fare"]
        # The passenger got out: despawned, so it leaves the driver's view.
        await driver.wait_until(lambda: npc not in driver.entities, 5)


async def test_unknown_custom_type_is_answered(server: Server) -> None:
    async with connect(server.url, name="curious") as c:
        errors: list[ErrorReceived] = []
        c.on(ErrorReceived, errors.append)
        await c.send_custom("bank.rob", {"vault": 1})
        await c.wait_until(lambda: bool(errors), 5)
        assert errors[0].name == "UNKNOWN_TYPE" and errors[0].code == 13
        await c.send_custom("taxi.cancel")  # nothing to cancel: no answer, no error
        fare_next = asyncio.ensure_future(c.wait_custom("taxi.fare"))
        await c.send_custom("taxi.start")
        ev = await fare_next
        assert isinstance(ev, CustomReceived) and c.connected
