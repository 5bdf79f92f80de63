"""The console's hooks into the game, as the server wires them at start: generated missions
come from the mission desk, relationships set by an admin reach the factions' members, and
the anti-cheat's scores show in the players list and push."""

from __future__ import annotations

from typing import Any

from server.app import Server
from tests.admin.support import account, open_admin
from tests.server.conftest import Client, ServerFactory
from tests.server.test_accounts_http import AUTH
from tests.server.test_auth_join import join, wait_for


async def game_event(c: Client, kind: str, timeout: float = 15.0) -> dict[str, Any]:
    """The next `event` of type `kind` (others are skipped)."""
    while True:
        msg = await c.text("event", timeout)
        if msg["type"] == kind:
            data: dict[str, Any] = msg["data"]
            return data


async def npc_in_view(srv: Server, c: Client) -> None:
    await c.until(lambda c: any(e.kind == 2 for e in c.mirror.entities.values()), 10.0)


async def test_missions_generate_offers_the_player_a_mission(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Carl")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Carl", ptoken)
    await npc_in_view(srv, p)
    a = await open_admin(srv, token)
    got = await a.ok("missions.generate", player=pid)
    mission = got["mission"]
    assert mission["status"] == "offered" and mission["objectives"]
    seen = await game_event(p, "mission")
    assert seen["id"] == mission["id"] and seen["status"] == "offered"
    rows = await srv.state.persistence.repos.audit.recent(20)
    assert any(r.action == "missions.generate" for r in rows)
    await a.ws.close()
    await p.ws.close()


async def test_a_relationship_set_by_an_admin_reaches_the_members(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    _, ptoken = await account(srv, "Carl")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Carl", ptoken)
    await wait_for(lambda: srv.state.game.missions._ready.is_set(), 10.0)  # world factions made
    await p.ws.send('{"op":"faction","action":"join","name":"vagos"}')
    assert (await game_event(p, "faction"))["faction"] == "vagos"
    a = await open_admin(srv, token)
    got = await a.ok("factions.set_relation", a="vagos", b="ballas", strength=-70)
    assert (got["strength"], got["state"]) == (-70, "war")
    heard = await game_event(p, "faction.relation")
    assert (heard["strength"], heard["stance"], heard["reason"]) == (-70, "war", "admin")
    await a.ws.close()
    await p.ws.close()


async def test_violations_show_in_the_players_list_and_push(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Carl")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Carl", ptoken)
    a = await open_admin(srv, token)
    await a.ok("subscribe", topics=["players"])
    at = srv.state.world.entity_xy(p.nid)
    assert at is not None
    # 300 m in one input, towards the middle of the world: far past the movement budget.
    await p.move(at[0] - 300.0 if at[0] > 0 else at[0] + 300.0, at[1], 0.0)
    err = await p.text("error")
    assert err["name"] == "IMPOSSIBLE_MOVE"
    while True:
        push = await a.push("players")
        if push["data"]["change"] == "violations":
            break
    assert push["data"]["player_id"] == pid and push["data"]["violations"] >= 1
    listed = await a.ok("players.list")
    (row,) = [r for r in listed["players"] if r["player_id"] == pid]
    assert row["violations"] >= 1
    inspected = await a.ok("players.inspect", player=pid)
    assert inspected["violations"]["count"] == 1
    assert inspected["violations"]["last"] == "IMPOSSIBLE_MOVE"
    await a.ws.close()
    await p.ws.close()
