"""Example game mode: a taxi job. Load it with `GAME_MODULES=server.game.modes.taxi`.

The whole exchange, in custom messages (`{"op":"custom","type":...,"data":{...}}`):

    client: taxi.start {}                      -> a passenger appears near you
    server: taxi.fare  {npc, x, y, radius}     -> drive within `radius` metres of the passenger
    server: taxi.ride  {npc, x, y, radius}     -> the passenger follows you; drive into this zone
    server: taxi.paid  {fare, money}           -> you are paid (and get an `event` of type money)
    client: taxi.cancel {}                     -> server: taxi.cancelled {}

What it shows of the API (`server/game/api.py`): message handlers, a timer that checks the
trigger zones, world commands (spawn a passenger, make it face you, make it follow you,
despawn it), money, an event subscription (a driver who leaves loses the job) and a custom
event for other modes (`taxi.completed`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from server.game.api import GameApi
from server.game.events import PlayerLeft
from server.game.player import Player
from server.world.commands import DespawnNpc, Follow, SpawnNpc, StopAndFace

PICKUP_RADIUS = 8.0  # metres from the passenger to pick it up
DROP_RADIUS = 10.0  # metres from the destination to drop it off
SPAWN_DISTANCE = (25.0, 40.0)  # how far from the driver a passenger appears
TRIP_DISTANCE = (80.0, 120.0)  # how far from the pickup the destination is
BASE_FARE = 50
FARE_PER_METRE = 1.0
CHECK_EVERY = 0.2  # seconds between trigger-zone checks


@dataclass(slots=True)
class Job:
    driver: Player
    npc: int
    picked_up: bool = False
    dest: tuple[float, float] = (0.0, 0.0)
    trip: float = 0.0


class Taxi:
    def __init__(self, api: GameApi, seed: int | None = None) -> None:
        self.api = api
        self.jobs: dict[str, Job] = {}  # by player id
        self.rng = random.Random(seed)

    def _point_near(self, x: float, y: float, lo: float, hi: float) -> tuple[float, float]:
        """A point lo..hi metres from (x, y), inside the world."""
        b = self.api.world.bounds
        for _ in range(16):
            angle = self.rng.uniform(0, 2 * math.pi)
            r = self.rng.uniform(lo, hi)
            px, py = x + r * math.cos(angle), y + r * math.sin(angle)
            if b.min_x < px < b.max_x and b.min_y < py < b.max_y:
                return px, py
        return x, y

    # --- messages ---

    def start(self, player: Player, data: dict[str, Any]) -> None:
        self._end(player, tell=False)
        x, y, z = player.position
        px, py = self._point_near(x, y, *SPAWN_DISTANCE)
        npc = self.api.spawn_npc(SpawnNpc(x=px, y=py, z=z, role="civilian"))
        if npc is None:  # the world's command queue is full: try again later
            self.api.send(player, "taxi.busy", {})
            return
        self.api.submit(StopAndFace(npc=npc, target=player.nid))
        self.jobs[player.player_id] = Job(player, npc)
        self.api.send(player, "taxi.fare", {"npc": npc, "x": px, "y": py, "radius": PICKUP_RADIUS})

    def cancel(self, player: Player, data: dict[str, Any]) -> None:
        if self._end(player, tell=False):
            self.api.send(player, "taxi.cancelled", {})

    def _end(self, player: Player, *, tell: bool) -> bool:
        job = self.jobs.pop(player.player_id, None)
        if job is None:
            return False
        self.api.submit(DespawnNpc(npc=job.npc))
        return True

    # --- the trigger zones, checked on a timer ---

    def check(self) -> None:
        for pid, job in list(self.jobs.items()):
            x, y, _ = job.driver.position
            if not job.picked_up:
                at = self.api.world.entity_xy(job.npc)
                if at is None or math.hypot(at[0] - x, at[1] - y) > PICKUP_RADIUS:
                    continue
                job.picked_up = True
                job.dest = self._point_near(x, y, *TRIP_DISTANCE)
                job.trip = math.hypot(job.dest[0] - x, job.dest[1] - y)
                self.api.submit(Follow(npc=job.npc, target=job.driver.nid, distance=2.0))
                self.api.send(
                    job.driver,
                    "taxi.ride",
                    {"npc": job.npc, "x": job.dest[0], "y": job.dest[1], "radius": DROP_RADIUS},
                )
            elif math.hypot(job.dest[0] - x, job.dest[1] - y) <= DROP_RADIUS:
                del self.jobs[pid]
                fare = BASE_FARE + round(FARE_PER_METRE * job.trip)
                self.api.change_money(job.driver, fare, "taxi fare")
                self.api.submit(DespawnNpc(npc=job.npc))
                self.api.send(job.driver, "taxi.paid", {"fare": fare, "money": job.driver.money})
                self.api.publish("taxi.completed", {"fare": fare}, job.driver)

    def on_left(self, ev: PlayerLeft) -> None:
        self._end(ev.player, tell=False)


def setup(api: GameApi) -> None:
    taxi = Taxi(api)
    api.on_message("taxi.start", taxi.start)
    api.on_message("taxi.cancel", taxi.cancel)
    api.every(CHECK_EVERY, taxi.check)
    api.on(PlayerLeft, taxi.on_left)
