"""Console commands that act on the world and watch it: NPCs and their memories, teleport,
money, factions, pushes, the event log, and a scheduled restart ending in the drain."""

from __future__ import annotations

import asyncio

from protocol.catalogue import CloseCode
from server.app import Server
from tests.admin.support import account, open_admin
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH
from tests.server.test_auth_join import join, wait_for


async def wait_for_stored(srv: Server, key: str, memory_id: str) -> None:
    """Memories are queued for storage (write-behind); wait until this one is stored."""
    repo = srv.state.persistence.repos.npc_memory
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while not any(m.memory_id == memory_id for m in await repo.recent(key, None, 50)):
        assert loop.time() < end, "memory never stored"
        await asyncio.sleep(0.02)


async def test_npc_spawn_edit_inspect_despawn(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Carl")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Carl", ptoken)
    a = await open_admin(srv, token)

    spawned = await a.ok("npcs.spawn", x=10.0, y=20.0, z=0.0, name="Tony", role="vendor")
    key, nid = spawned["npc_id"], spawned["net_id"]
    assert key and srv.state.world.npc_slot(nid) is not None
    near = await a.ok("npcs.list", near={"x": 10, "y": 20, "radius": 1})
    assert [n["net_id"] for n in near["npcs"]] == [nid] and near["npcs"][0]["name"] == "Tony"

    edited = await a.ok(
        "npcs.edit",
        npc=key,
        persona={"personality": "grumpy, owes the Ballas money"},
        memory_add={"type": "admin", "content": "Carl stole my truck", "weight": 90, "about": pid},
        relationship={"player": pid, "value": -40},
    )
    assert edited["persona"]["personality"] == "grumpy, owes the Ballas money"
    ident = srv.state.world.identity(nid)
    assert ident is not None and ident.personality == "grumpy, owes the Ballas money"
    assert (ident.name, ident.role, ident.key) == ("Tony", "vendor", key)
    role = await a.cmd("npcs.edit", npc=nid, persona={"personality": "x", "role": "cop"})
    assert role["error"]["code"] == "bad_args"
    # The memory shows at once (queued for storage, already recalled) and after a reread.
    for got in (edited, await a.ok("npcs.inspect", npc=nid)):
        mems = [m for m in got["memories"] if m["content"] == "Carl stole my truck"]
        assert len(mems) == 1 and mems[0]["weight"] == 90 and mems[0]["about"] == pid
        assert got["relationships"] == [
            {"player": pid, "value": -40, "trust": 0, "conversations": 0, "mood": "wary"}
        ]
    rel = await srv.state.game.talks.relationships.get(key, pid)
    assert rel.affinity == -40

    mid = mems[0]["memory_id"]
    await wait_for_stored(srv, key, mid)
    edited = await a.ok(
        "npcs.edit", npc=nid, memory_edit={"memory_id": mid, "weight": 10, "content": "Carl paid"}
    )
    assert [(m["content"], m["weight"]) for m in edited["memories"] if m["memory_id"] == mid] == [
        ("Carl paid", 10)
    ]
    stored = await srv.state.persistence.repos.npc_memory.recent(key, None, 50)
    assert [(m.content["text"], m.emotional_weight) for m in stored if m.memory_id == mid] == [
        ("Carl paid", 10)
    ]
    edited = await a.ok("npcs.edit", npc=nid, memory_delete=mid)
    assert all(m["memory_id"] != mid for m in edited["memories"])
    assert all(m.memory_id != mid for m in await srv.state.persistence.repos.npc_memory.recent(key))
    again = await a.cmd("npcs.edit", npc=nid, memory_delete=mid)
    assert again["error"]["code"] == "not_found"

    bad = await a.cmd("npcs.edit", npc=nid, memory_add={"type": "x", "content": "", "weight": 5})
    assert bad["error"]["code"] == "bad_args"
    assert (await a.cmd("npcs.inspect", npc="npc:nope"))["error"]["code"] == "not_found"

    assert await a.ok("npcs.despawn", npc=nid) == {"despawned": True}
    await wait_for(lambda: srv.state.world.npc_slot(nid) is None)
    rows = await srv.state.persistence.repos.audit.recent(100)
    assert [(r.action, r.result) for r in rows] == [
        ("npcs.despawn", "ok"),
        ("npcs.edit", "error: not_found"),
        ("npcs.edit", "ok"),
        ("npcs.edit", "ok"),
        ("npcs.edit", "ok"),
        ("npcs.spawn", "ok"),
    ]
    assert {r.target for r in rows} == {key}
    await p.ws.close()
    await a.ws.close()


async def test_teleport_money_notes_and_pushes(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Lamar")
    _, token = await account(srv, "Boss", "admin")
    a = await open_admin(srv, token)
    assert await a.ok("subscribe", topics=["players", "events", "metrics"]) == {
        "topics": ["events", "metrics", "players"]
    }
    p = await join(srv, "Lamar", ptoken)
    joined = await a.push("players")
    assert joined["data"]["change"] == "joined" and joined["data"]["player_id"] == pid
    metrics = await a.push("metrics", timeout=5)
    assert metrics["data"]["players"] == 1 and "p99" in metrics["data"]["tick_ms"]

    assert await a.ok("players.teleport", player=pid, x=100.0, y=-50.0, z=5.0) == {
        "x": 100.0,
        "y": -50.0,
        "z": 5.0,
    }
    corrected = await p.text("correct")
    assert (corrected["x"], corrected["y"]) == (100.0, -50.0)

    assert (await a.ok("economy.give", player=pid, amount=250, reason="refund"))["money"] >= 250
    money = await p.text("event")
    assert money["type"] == "money" and money["data"]["delta"] == 250
    took = await a.cmd("economy.take", player=pid, amount=10**9, reason="too much")
    assert took["error"]["code"] == "failed"

    notes = await a.ok("players.notes", player=pid, text="suspected of duping")
    assert [n["text"] for n in notes["notes"]] == ["suspected of duping"]
    inspected = await a.ok("players.inspect", player="Lamar")
    assert inspected["notes"][0]["author"] == "boss" and inspected["online"] is True
    assert inspected["violations"] == {"score": 0, "recent": []}

    event = await a.push("events")
    assert event["data"]["kind"] in ("player_joined", "admin")
    tail = await a.ok("logs.tail", n=20)
    kinds = [e["kind"] for e in tail["events"]]
    assert "player_joined" in kinds and kinds.count("admin") >= 3
    await a.ok("unsubscribe", topics=["metrics"])
    await p.ws.close()
    left = await a.push("players")
    assert left["data"]["change"] == "left"
    await a.ws.close()


async def test_faction_relation(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    _, token = await account(srv, "Boss", "admin")
    repo = srv.state.persistence.repos.factions
    await repo.create("ballas")
    await repo.create("vagos")
    a = await open_admin(srv, token)
    got = await a.ok("factions.set_relation", a="vagos", b="ballas", strength=-70)
    assert got == {"a": "ballas", "b": "vagos", "strength": -70, "state": "war"}
    listed = await a.ok("factions.list", names=["ballas", "vagos"])
    assert {f["name"] for f in listed["factions"]} == {"ballas", "vagos"}
    assert listed["relations"] == [got]
    missing = await a.cmd("factions.set_relation", a="ballas", b="nobody", strength=1)
    assert missing["error"]["code"] == "not_found"
    await a.ws.close()


async def test_restart_warns_players_then_drains(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    _, ptoken = await account(srv, "Niko")
    _, mod = await account(srv, "Moira", "moderator")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Niko", ptoken)
    m = await open_admin(srv, mod)
    assert (await m.cmd("server.restart", in_s=1))["error"]["code"] == "forbidden"
    a = await open_admin(srv, token)
    # Cancelled first: nothing happens.
    await a.ok("server.restart", in_s=120)
    assert (await p.text("event"))["data"]["restart_in_s"] == 120
    assert await a.ok("server.restart_cancel") == {"cancelled": True}
    assert "cancelled" in (await p.text("event"))["data"]["text"]
    await a.ok("server.restart", in_s=1, message="Patch day")
    first = await p.text("event")
    assert first["type"] == "announcement" and first["data"]["text"] == "Patch day in 1 s"
    assert await p.closed_code() == CloseCode.SERVICE_RESTART
    assert await a.closed_code() == CloseCode.SERVICE_RESTART
    await asyncio.wait_for(srv.closed.wait(), 10)
    actions = [r.action for r in await srv.state.persistence.repos.audit.recent(10)]
    assert actions[:3] == ["server.restart", "server.restart_cancel", "server.restart"]
