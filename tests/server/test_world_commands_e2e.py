"""World commands seen by real clients over real sockets: a follower's re-aims arrive as
ordinary PATH records that extrapolate bit-exactly, spawns and despawns as ENTER and LEAVE,
a teleport as a MOVE (and a `correct` for the player moved), and `who` names what is in view."""

from __future__ import annotations

import asyncio
import math

from protocol.mirror import Npc, Player, StateReceived
from protocol.state import decode_state
from server.world.commands import DespawnNpc, Follow, SpawnNpc, Teleport
from tests.server.conftest import Client, ServerFactory, open_client


async def test_follow_spawn_teleport_and_who_as_other_clients_see_them(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(
        npc_count=0, spawn_area_size=10.0, player_max_speed=1000.0, npc_follow_reaim_ticks=10
    )
    world = srv.state.world
    a = await open_client(srv.url, "alice")
    b = await open_client(srv.url, "bob")
    clients += [a, b]

    # Game code: an NPC appears next to the players and is told to follow alice.
    nid = world.spawn(
        SpawnNpc(
            x=0.0, y=0.0, name="Big Smoke", role="gang_member", faction="grove_street_families"
        )
    )
    far = world.spawn(SpawnNpc(x=3000.0, y=3000.0, name="Nobody Here"))
    assert nid is not None and far is not None
    assert world.submit(Follow(npc=nid, target=a.nid, distance=2.0, speed=12.0))

    # The server's own position of the follower at every tick, to compare with bob's mirror.
    server_xy: dict[int, tuple[float, float]] = {}
    step = world.step

    def recording_step():  # type: ignore[no-untyped-def]
        log = step()
        i = nid - world.npcs.first_id
        if i < world.npcs.n and world.npcs.alive[i]:
            server_xy[world.tick] = (float(world.npcs.x[i]), float(world.npcs.y[i]))
        return log

    world.step = recording_step  # type: ignore[method-assign]

    await b.until(lambda c: isinstance(c.mirror.entities.get(nid), Npc))  # ENTER
    assert far not in b.mirror.entities

    checked = 0

    async def watch(seconds: float) -> None:
        """Read bob's frames; after each, his extrapolation must equal the server's."""
        nonlocal checked
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                events = await b.recv_one(left)
            except TimeoutError:
                return
            for ev in events:
                npc = b.mirror.entities.get(nid)
                if isinstance(ev, StateReceived) and isinstance(npc, Npc):
                    x, y, _ = b.mirror.npc_position(npc)  # at the frame's tick
                    assert (x, y) == server_xy[ev.tick], (ev.tick, npc.path)
                    checked += 1

    # alice walks 60 m east at 6 m/s while bob watches.
    await asyncio.gather(a.walk(60.0, 0.0, speed=6.0, rate=30.0), watch(11.0))
    paths = [
        p
        for _, data in b.frames
        if data[0] == 0x01
        for i, p in decode_state(data).paths
        if i == nid
    ]
    assert len(paths) >= 3, "the follower's re-aims should reach bob as PATH records"
    assert len({p.start_tick for p in paths}) == len(paths)
    assert checked >= 100
    npc = b.mirror.entities[nid]
    assert isinstance(npc, Npc)
    fx, fy, _ = b.mirror.npc_position(npc)
    ax, ay = float(world.players.x[a.nid]), float(world.players.y[a.nid])
    assert math.hypot(fx - ax, fy - ay) < 6.0  # it kept up

    # who: names and roles of what bob sees; the far NPC and a free id are left out.
    await b.ws.send(b.mirror.who([nid, a.nid, far, 65535]).decode())
    reply = await b.text("who")
    assert sorted(reply["entities"], key=lambda e: e["id"]) == sorted(
        [
            {
                "id": nid,
                "kind": "npc",
                "name": "Big Smoke",
                "role": "gang_member",
                "faction": "grove_street_families",
            },
            {"id": a.nid, "kind": "player", "name": "alice"},
        ],
        key=lambda e: e["id"],
    )

    # Teleport alice: she is told (`correct`, ref 0) and bob sees her there.
    assert world.submit(Teleport(entity=a.nid, x=-40.0, y=25.0, z=0.0, heading=45.0))
    corr = await a.text("correct")
    assert (corr["x"], corr["y"], corr["ref"]) == (-40.0, 25.0, 0)

    def alice_there(c: Client) -> bool:
        e = c.mirror.entities.get(a.nid)
        return (
            isinstance(e, Player) and math.hypot(e.position[0] + 40.0, e.position[1] - 25.0) < 0.2
        )

    await b.until(alice_there)
    # Her next input, from where she was put, is accepted (no error, no correct).
    await a.move(-39.0, 25.0, 0.0, 45.0)
    await b.until(
        lambda c: (
            isinstance(p := c.mirror.entities.get(a.nid), Player)
            and abs(p.position[0] + 39.0) < 0.2
        )
    )
    assert not [t for t in a.texts if t.get("op") == "error"]

    # Despawn: bob gets a LEAVE.
    assert world.submit(DespawnNpc(npc=nid))
    await b.until(lambda c: nid not in c.mirror.entities)
    await b.ws.send(b.mirror.who([nid]).decode())
    assert (await b.text("who"))["entities"] == []
