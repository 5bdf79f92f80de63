"""The `companion` client message through real sockets: summon (and the tier's limit), the
companion following its player in the snapshots, talking to it (loyalty moves), dismiss,
recall, info, persistence, and leaving with the player."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import jwt

from protocol.catalogue import ErrorCode
from protocol.mirror import Npc
from server.app import Server
from server.persistence.memory import MemoryPersistence
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.test_accounts_http import AUTH, SECRET, forge, login, register
from tests.server.test_auth_join import join
from tests.server.test_faction_ops import event, events, pid, refused, send
from tests.server.test_join_service import eventually

TOWN: dict[str, Any] = {**AUTH, "npc_count": 5, "spawn_area_size": 50.0}


def distance_to_me(c: Client, npc: int) -> float:
    ent = c.mirror.entities[npc]
    assert isinstance(ent, Npc)
    x, y, _ = c.mirror.npc_position(ent)
    assert c.mirror.local is not None
    return math.hypot(x - c.mirror.local[0], y - c.mirror.local[1])


async def walk_away(c: Client, dx: float) -> None:
    """Walk `dx` metres east (faster than a companion jogs), reading frames meanwhile."""
    assert c.mirror.local is not None
    x, y = c.mirror.local[:2]
    await c.walk(x + dx, y, speed=30.0, rate=30.0)


async def test_a_companion_is_summoned_follows_talks_and_goes_home(
    start: ServerFactory, clients: list[Client]
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **TOWN)
    c = await join(srv, "Franklin")
    clients.append(c)
    if c.mirror.local is None:
        w = c.mirror.welcome
        assert w is not None
        c.mirror.local = (w.x, w.y, w.z, w.heading)

    await send(c, op="companion", action="summon", name="Chop", kind="dog")
    made = await event(c, "companion", lambda d: d["change"] == "created")
    assert (made["name"], made["kind"], made["loyalty"]) == ("Chop", "dog", 50)
    up = await event(c, "companion", lambda d: d["change"] == "summoned")
    npc = up["net_id"]
    assert isinstance(npc, int) and up["id"] == made["id"]
    await c.until(lambda c: npc in c.mirror.entities)
    ident = srv.state.world.identity(npc)
    assert ident is not None and (ident.name, ident.role) == ("Chop", "companion")

    # One companion on the free tier: another is refused, with its reason.
    await send(c, op="companion", action="summon", name="Rex", kind="dog")
    assert (await refused(c, ErrorCode.COMPANION_REFUSED)).startswith("limit:")

    # It follows: walk 40 m away; its position in the snapshots (the paths the server
    # sends, extrapolated) ends up beside the player's new place, 40 m from where it was.
    await c.until(lambda c: distance_to_me(c, npc) < 5.0)
    ent = c.mirror.entities[npc]
    assert isinstance(ent, Npc)
    x0, y0, _ = c.mirror.npc_position(ent)
    await walk_away(c, 40.0)
    assert c.mirror.local is not None
    assert math.hypot(c.mirror.local[0] - x0, c.mirror.local[1] - y0) > 35.0
    await c.until(lambda c: distance_to_me(c, npc) < 6.0, timeout=20.0)

    # Talking to it is the ordinary streamed talk; kind words raise its loyalty.
    await send(c, op="talk", npc=npc, text="Thanks buddy, good boy")
    say = await c.text("npc_say")
    assert say["npc"] == npc and say["text"]
    treated = await event(c, "companion", lambda d: d["change"] == "treated")
    assert treated["loyalty"] == 53

    # dismiss: it leaves the world; recall brings it back next to the player.
    await send(c, op="companion", action="dismiss")
    await event(c, "companion", lambda d: d["change"] == "dismissed")
    await c.until(lambda c: npc not in c.mirror.entities)
    await send(c, op="companion", action="dismiss")
    assert (await refused(c, ErrorCode.COMPANION_REFUSED)).startswith("not_summoned:")
    await send(c, op="companion", action="recall")
    await c.until(lambda c: len(summons(c)) == 2)
    again = summons(c)[-1]["net_id"]
    await c.until(lambda c: again in c.mirror.entities)
    assert distance_to_me(c, again) < 5.0

    await send(c, op="companion", action="info")
    info = await event(c, "companion.info")
    assert info["limit"] == 1
    (one,) = info["companions"]
    assert (one["id"], one["name"], one["loyalty"], one["net_id"]) == (
        made["id"],
        "Chop",
        53,
        again,
    )
    # Durable: the companion and its loyalty are in storage.
    (stored,) = await persistence.repos.companions.of_player(pid(c))
    assert (stored.name, stored.loyalty_level) == ("Chop", 53)

    # Leaving takes it out of the world.
    await c.ws.close()
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while srv.state.world.identity(again) is not None:
        assert loop.time() < end, "the companion stayed in the world"
        await asyncio.sleep(0.05)


def summons(c: Client) -> list[dict[str, Any]]:
    return [d for d in events(c, "companion") if d["change"] == "summoned"]


async def test_premium_players_keep_more_companions_and_unknown_ids_are_refused(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv: Server = await start(**TOWN)
    await register(srv, "Lamar")
    claims = jwt.decode(
        (await login(srv, "Lamar"))["access_token"], options={"verify_signature": False}
    )
    premium = forge({**claims, "permissions": ["play:game", "ai:premium"]}, SECRET)
    c = await join(srv, "Lamar", premium)
    clients.append(c)
    for name in ("One", "Two"):
        await send(c, op="companion", action="summon", name=name)
        await event(c, "companion", lambda d, n=name: d["change"] == "summoned" and d["name"] == n)
    await send(c, op="companion", action="info")
    info = await event(c, "companion.info")
    assert info["limit"] == 3 and [x["name"] for x in info["companions"]] == ["One", "Two"]
    # Only one is in the world at a time: summoning Two sent One home.
    assert [x["net_id"] is not None for x in info["companions"]] == [False, True]
    await send(c, op="companion", action="recall", id="no-such-companion")
    assert (await refused(c, ErrorCode.COMPANION_REFUSED)).startswith("not_found:")
    await send(c, op="companion", action="summon", kind="cat")
    assert "'kind'" in await refused(c, ErrorCode.BAD_FIELD)


async def test_a_companion_out_when_the_connection_dropped_comes_back_on_resume(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv: Server = await start(**TOWN)
    st = srv.state
    c = await open_client(srv.url, "Franklin")
    await send(c, op="companion", action="summon", name="Chop", kind="dog")
    first = (await event(c, "companion", lambda d: d["change"] == "summoned"))["net_id"]
    await c.until(lambda c: first in c.mirror.entities)
    token, me = c.mirror.resume_token, pid(c)

    c.ws.transport.abort()  # the connection drops: no `leave`, kept for a resume
    await eventually(lambda: me in st.reserved, what="the player dropped")
    await eventually(lambda: st.world.identity(first) is None, what="the companion went home")

    back = await open_client(srv.url, "Franklin", resume=token)
    clients.append(back)
    assert back.mirror.welcome is not None and back.mirror.welcome.resumed
    up = await event(back, "companion", lambda d: d["change"] == "summoned")
    npc = up["net_id"]
    assert isinstance(npc, int) and up["name"] == "Chop"
    # In the world beside the player, following them.
    await back.until(lambda c: npc in c.mirror.entities)
    ident = st.world.identity(npc)
    assert ident is not None and (ident.name, ident.role) == ("Chop", "companion")
    assert distance_to_me(back, npc) < 5.0
    slot = st.world.npc_slot(npc)
    assert slot is not None
    await eventually(lambda: int(st.world.follow.target[slot]) == back.nid, what="following")
    await send(back, op="companion", action="info")
    (one,) = (await event(back, "companion.info"))["companions"]
    assert (one["name"], one["net_id"]) == ("Chop", npc)


async def test_a_companion_dismissed_before_the_drop_stays_home_on_resume(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv: Server = await start(**TOWN)
    c = await open_client(srv.url, "Lamar")
    await send(c, op="companion", action="summon", name="Rex", kind="dog")
    await event(c, "companion", lambda d: d["change"] == "summoned")
    await send(c, op="companion", action="dismiss")
    await event(c, "companion", lambda d: d["change"] == "dismissed")
    token, me = c.mirror.resume_token, pid(c)
    c.ws.transport.abort()
    await eventually(lambda: me in srv.state.reserved, what="the player dropped")
    back = await open_client(srv.url, "Lamar", resume=token)
    clients.append(back)
    assert back.mirror.welcome is not None and back.mirror.welcome.resumed
    await send(back, op="companion", action="info")
    (one,) = (await event(back, "companion.info"))["companions"]
    assert one["net_id"] is None and not events(back, "companion")
