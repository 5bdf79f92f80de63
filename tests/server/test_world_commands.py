"""World commands on a World without sockets: what each does to the arrays, the tick log and
the wire records, and that every NPC path they make extrapolates bit-exactly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from config import load_config
from protocol.catalogue import EntityKind
from protocol.quant import quantise_position
from protocol.state import NpcEnter, NpcPath, decode_state, encode_section, encode_state
from protocol.state import StateFrame as Frame
from server.world.commands import (
    DespawnNpc,
    Follow,
    SetState,
    SpawnNpc,
    StopAndFace,
    Teleport,
    WalkTo,
)
from server.world.world import World

HISTORY = 240


def make_world(**over: Any) -> World:
    cfg = load_config(
        **{
            "npc_count": 20,
            "spawn_area_size": 100.0,
            "log_level": "warning",
            "sqlite_path": "",
            "npc_spawn_capacity": 8,
            **over,
        }
    )
    return World(cfg, HISTORY)


def add_player(w: World, x: float, y: float, name: str = "Ana") -> int:
    nid = w.net_ids.allocate(w.tick)
    w.spawn_player(nid, name, x, y, 0.0, 0.0)
    return nid


def assert_exact(w: World, nid: int) -> None:
    """The server's position of NPC `nid` is its current path's `position_at`, bit for bit."""
    i = nid - w.npcs.first_id
    x, y, z = w.npc_path(nid).position_at(w.tick, w.tick_rate, w.bounds)
    assert (x, y) == (w.npcs.x[i], w.npcs.y[i])
    assert z == w.npcs.z[i]


def decode_enter(w: World, nid: int) -> NpcEnter:
    frame = Frame(seq=1, tick=w.tick, server_time=0.0)
    raw = encode_state(frame)
    # Splice the world's own cached ENTER record into an otherwise empty frame.
    data = raw[:20] + encode_section([w.enter_record(nid)]) + raw[22:]
    (enter,) = decode_state(data).enters
    assert isinstance(enter, NpcEnter)
    return enter


def test_spawn_enters_the_world_with_its_identity() -> None:
    w = make_world()
    w.step()
    nid = w.spawn(SpawnNpc(x=5.0, y=-3.0, z=2.0, heading=90.0, name="Tony", role="vendor"))
    assert nid is not None
    # NPC net ids stay below every player's, spawned ones included.
    assert nid < w.net_ids.next
    assert w.kind[nid] == 0  # nothing happens before the tick
    log = w.step()
    assert w.kind[nid] == EntityKind.NPC
    k = log.cross_ids.tolist().index(nid)
    assert log.cross_from[k] == -1 and log.cross_to[k] == w.cell[nid] >= 0
    assert nid in w.entities_in([int(w.cell[nid])])
    ident = w.identity(nid)
    assert ident is not None and (ident.name, ident.role) == ("Tony", "vendor")
    enter = decode_enter(w, nid)
    qx, qy, qz = quantise_position(w.bounds, 5.0, -3.0, 2.0)
    p = enter.path
    assert (p.qx, p.qy, p.qz, p.speed) == (qx, qy, qz, 0)
    assert abs(p.heading(w.bounds) - 90.0) < 2.0  # standing, facing west as ordered
    for _ in range(30):
        w.step()
        assert_exact(w, nid)
    assert w.npc_path(nid) == p  # a standing NPC never gets a new leg


def test_spawn_without_a_name_gets_a_distinct_generated_identity() -> None:
    w = make_world()
    a = w.spawn(SpawnNpc(x=0.0, y=0.0))
    b = w.spawn(SpawnNpc(x=0.0, y=0.0, wander=True, faction="ballas"))
    assert a is not None and b is not None
    w.step()
    ia, ib = w.identity(a), w.identity(b)
    assert ia is not None and ib is not None
    assert ia.name != ib.name and ia.key != ib.key
    assert ib.faction == "ballas"
    assert {ia.name, ib.name}.isdisjoint({w.identities.get(i).name for i in range(20)})
    assert w.npcs.wander[b - 1] and w.npcs.speed_qs[b - 1] > 0


def test_despawn_leaves_every_view_and_frees_the_slot_after_quarantine() -> None:
    w = make_world(npc_spawn_capacity=1)
    nid = w.spawn(SpawnNpc(x=0.0, y=0.0))
    assert nid is not None
    w.step()
    cell = int(w.cell[nid])
    assert w.spawn(SpawnNpc(x=1.0, y=1.0)) is None  # capacity 1
    assert w.commands.rejected["capacity"] == 1
    assert w.submit(DespawnNpc(npc=nid))
    log = w.step()
    k = log.cross_ids.tolist().index(nid)
    assert (log.cross_from[k], log.cross_to[k]) == (cell, -1)
    assert w.kind[nid] == 0 and w.cell[nid] == -1 and w.identity(nid) is None
    assert nid not in w.entities_in([cell])
    for _ in range(5):  # a dead slot never crosses again
        assert nid not in w.step().cross_ids.tolist()
    assert w.submit(WalkTo(npc=nid, x=1.0, y=1.0))
    w.step()
    assert w.commands.rejected["stale"] == 1
    # Its net id comes back only once no crossing log can still name the old NPC.
    assert w.spawn(SpawnNpc(x=1.0, y=1.0)) is None
    for _ in range(HISTORY + 1):
        w.step()
    assert w.spawn(SpawnNpc(x=1.0, y=1.0)) == nid


def test_spawn_and_despawn_in_one_tick_leave_no_trace() -> None:
    w = make_world()
    nid = w.spawn(SpawnNpc(x=0.0, y=0.0))
    assert nid is not None
    w.submit(DespawnNpc(npc=nid))
    log = w.step()
    assert nid not in log.cross_ids.tolist()
    assert all(nid not in m for m in w.members.values())


def test_walk_to_then_stand_or_wander() -> None:
    w = make_world(npc_speed=10.0)
    for _ in range(3):
        w.step()
    nid = 5
    w.submit(WalkTo(npc=nid, x=30.0, y=40.0, speed=20.0))
    log = w.step()
    assert nid in log.path_ids.tolist()
    p = w.npc_path(nid)
    assert p.start_tick == w.tick and p.speed == 200
    assert (p.wx, p.wy) == quantise_position(w.bounds, 30.0, 40.0, 0.0)[:2]
    for _ in range(400):
        log = w.step()
        assert nid not in log.path_ids.tolist()  # it stops at the point: no new leg
        assert_exact(w, nid)
    x, y, _ = p.position_at(w.tick, w.tick_rate, w.bounds)
    assert math.hypot(x - 30.0, y - 40.0) < 0.1
    w.submit(WalkTo(npc=nid, x=31.0, y=40.0, then_wander=True))
    w.step()
    legs = 0
    for _ in range(120):
        legs += nid in w.step().path_ids.tolist()
        assert_exact(w, nid)
    assert legs >= 1  # wandering again, at the base speed
    assert w.npc_path(nid).speed == w.npcs.speed_q


def test_stop_and_face_stands_facing_the_target() -> None:
    w = make_world()
    pid = add_player(w, 20.0, 0.0)
    w.step()
    nid = 3
    w.submit(StopAndFace(npc=nid, target=pid))
    log = w.step()
    assert nid in log.path_ids.tolist()
    p = w.npc_path(nid)
    assert p.speed == 0 and p.start_tick == w.tick
    assert (p.wx, p.wy) == quantise_position(w.bounds, 20.0, 0.0, 0.0)[:2]
    i = nid - 1
    sx, sy, _ = p.position_at(w.tick, w.tick_rate, w.bounds)
    want = math.degrees(math.atan2(-(20.0 - sx), 0.0 - sy)) % 360.0
    assert abs((p.heading(w.bounds) - want + 180) % 360 - 180) < 1.0
    here = (w.npcs.x[i], w.npcs.y[i])
    for _ in range(100):
        w.step()
        assert (w.npcs.x[i], w.npcs.y[i]) == here
        assert_exact(w, nid)


def test_follow_reaims_at_a_bounded_rate_and_stays_exact() -> None:
    w = make_world()
    pid = add_player(w, 0.0, 0.0)
    w.step()
    nid = 7
    every = w.follow.every
    w.submit(Follow(npc=nid, target=pid, distance=2.0, speed=8.0))
    assert nid in w.step().path_ids.tolist()  # aimed at once
    reaims = []
    for k in range(600):
        w.players.place(pid, 0.05 * k, 0.0, 0.0, 0.0)  # 3 m/s east
        log = w.step()
        if nid in log.path_ids.tolist():
            reaims.append(w.tick)
        assert_exact(w, nid)
    assert reaims and all(t % every == 0 for t in reaims)
    assert len(reaims) <= 600 // every
    i = nid - 1
    d = math.hypot(w.npcs.x[i] - w.players.x[pid], w.npcs.y[i] - w.players.y[pid])
    assert d < 2.0 + 3.0 * every / w.tick_rate + 2.0 + 0.5  # within a re-aim's lag
    # Target stands still: no more PATH records once the follower has arrived.
    for _ in range(200):
        w.step()
    quiet = [nid in w.step().path_ids.tolist() for _ in range(200)]
    assert sum(quiet) == 0


def test_follow_ends_when_the_target_leaves_or_another_command_comes() -> None:
    w = make_world()
    pid = add_player(w, 10.0, 0.0)
    w.step()
    w.submit(Follow(npc=2, target=pid))
    w.submit(Follow(npc=3, target=pid))
    w.step()
    assert w.follow.count == 2
    w.submit(WalkTo(npc=2, x=0.0, y=0.0))
    w.step()
    assert w.follow.count == 1
    w.despawn_player(pid)
    for _ in range(w.follow.every + 1):
        w.step()
    assert w.follow.count == 0
    assert w.npc_path(3).speed == 0  # stopped where it was
    assert_exact(w, 3)
    w.submit(Follow(npc=4, target=pid))  # target gone: dropped
    w.step()
    assert w.commands.rejected["stale"] == 1 and w.follow.count == 0


def test_teleport_moves_a_player_and_is_reported() -> None:
    w = make_world()
    pid = add_player(w, 0.0, 0.0)
    w.step()
    cell = int(w.cell[pid])
    w.submit(Teleport(entity=pid, x=500.0, y=-200.0, z=10.0))
    log = w.step()
    assert log.teleports == [pid]
    assert (w.players.x[pid], w.players.y[pid], w.players.z[pid]) == (500.0, -200.0, 10.0)
    k = log.cross_ids.tolist().index(pid)
    assert (log.cross_from[k], log.cross_to[k]) == (cell, w.grid.cell_of(500.0, -200.0))
    assert w.players.last_change[pid] == w.tick  # goes out as a MOVE
    assert w.step().teleports == []


def test_teleport_an_npc_makes_it_stand_there() -> None:
    w = make_world()
    w.step()
    w.submit(Teleport(entity=4, x=-300.0, y=300.0, z=0.0, heading=180.0))
    log = w.step()
    assert 4 in log.path_ids.tolist() and 4 in log.cross_ids.tolist()
    p = w.npc_path(4)
    assert p.speed == 0 and abs(p.heading(w.bounds) - 180.0) < 2.0
    assert_exact(w, 4)


def test_set_state() -> None:
    w = make_world()
    pid = add_player(w, 0.0, 0.0)
    w.step()
    before = w.enter_record(pid)
    w.submit(SetState(entity=pid, health=42, state=7))
    w.submit(SetState(entity=3, health=9, state=1))
    w.step()
    assert w.players.health[pid] == 42 and w.state[pid] == 7
    assert w.npc_health[2] == 9 and w.state[3] == 1
    assert w.enter_record(pid) != before  # the ENTER record carries the new health
    assert w.commands.applied == 2


def test_bad_commands_are_refused_without_raising() -> None:
    w = make_world()
    reg = CollectorRegistry()
    w.commands.register_metrics(reg)
    assert not w.submit(WalkTo(npc=1, x=math.nan, y=0.0))
    assert not w.submit(SetState(entity=1, health=300))
    assert not w.submit(Follow(npc=70000, target=1))
    assert not w.submit(SpawnNpc(x=0.0, y=0.0, role="Gang Member"))
    assert not w.submit("walk")  # type: ignore[arg-type]
    assert w.commands.rejected["invalid"] == 5
    assert len(w.commands) == 0
    assert reg.get_sample_value("ganggpt_world_commands_rejected_total", {"reason": "invalid"}) == 5


def test_queue_is_bounded_and_applies_a_bounded_number_per_tick() -> None:
    w = make_world(npc_command_queue_size=10, npc_commands_per_tick=4)
    reg = CollectorRegistry()
    w.commands.register_metrics(reg)
    assert all(w.submit(SetState(entity=1, state=i)) for i in range(10))
    assert not w.submit(SetState(entity=1, state=99))
    assert w.commands.rejected["full"] == 1
    assert reg.get_sample_value("ganggpt_world_commands_queued") == 10
    w.step()
    assert len(w.commands) == 6 and w.state[1] == 3  # in order, 4 per tick
    w.step()
    w.step()
    assert len(w.commands) == 0 and w.state[1] == 9
    assert reg.get_sample_value("ganggpt_world_commands_total", {"command": "SetState"}) == 10


def test_an_empty_queue_changes_nothing() -> None:
    a, b = make_world(), make_world()
    for _ in range(50):
        la, lb = a.step(), b.step()
        assert la.path_ids.tolist() == lb.path_ids.tolist()
    assert np.array_equal(a.npcs.x, b.npcs.x) and np.array_equal(a.npcs.y, b.npcs.y)


coords = st.floats(-150.0, 150.0, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(coords, coords, st.integers(1, 40)), min_size=1, max_size=6),
    st.floats(0.0, 5.0),
    st.floats(0.5, 25.0),
)
def test_reaims_keep_extrapolation_exact(
    moves: list[tuple[float, float, int]], distance: float, speed: float
) -> None:
    """Whatever the target does, every tick the follower is where the last path it was sent
    puts it, computed as a client would (from the decoded wire record)."""
    w = make_world(npc_count=5, npc_follow_reaim_ticks=3, npc_follow_reaim_distance=0.5)
    pid = add_player(w, 0.0, 0.0)
    w.step()
    w.submit(Follow(npc=1, target=pid, distance=distance, speed=speed))
    client: NpcPath | None = None
    for x, y, ticks in moves:
        w.players.place(pid, x, y, 0.0, 0.0)
        for _ in range(ticks):
            log = w.step()
            if 1 in log.path_ids.tolist() or client is None:
                rec = w.path_record(1)
                frame = encode_state(Frame(seq=1, tick=w.tick, server_time=0.0))
                data = frame[:22] + encode_section([rec])  # the PATH section, as sent
                ((rid, client),) = decode_state(data).paths
                assert rid == 1
            assert client.position_at(w.tick, w.tick_rate, w.bounds)[:2] == (
                w.npcs.x[0],
                w.npcs.y[0],
            )


def test_a_spawn_queued_without_a_reserved_slot_still_works() -> None:
    w = make_world(npc_spawn_capacity=1)
    assert w.commands.put(SpawnNpc(x=0.0, y=0.0))
    assert w.commands.put(SpawnNpc(x=1.0, y=0.0))
    w.step()
    assert w.kind[21] == EntityKind.NPC  # slot 20, after the 20 generated NPCs
    assert w.commands.rejected["capacity"] == 1
