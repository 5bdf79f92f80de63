"""Spectators (SPEC §3.8): an administrator's camera on `/ws`, over real sockets. It sees
exactly what a player at its camera would, is seen by nobody, flies without a speed limit,
takes no seat, and is refused to anyone without `admin:commands`."""

from __future__ import annotations

from typing import Any

import numpy as np

from protocol import control
from protocol.catalogue import CloseCode, ErrorCode
from protocol.mirror import Mirror
from server.app import Server
from tests.server.conftest import Client, ServerFactory
from tests.server.test_accounts_http import AUTH, call, login, register
from tests.server.test_auth_join import join, wait_for

WORLD = {**AUTH, "npc_count": 300, "spawn_area_size": 3000.0, "aoi_cell_size": 100.0}


async def admin_token(srv: Server, name: str = "boss") -> str:
    account = await register(srv, name)
    assert srv.state.accounts is not None
    await srv.state.accounts.set_role(account["id"], "admin")
    return str((await login(srv, name))["access_token"])


async def spectate(srv: Server, token: str | None, *, welcome: bool = True) -> Client:
    from websockets.asyncio.client import connect

    ws = await connect(srv.url, compression=None, open_timeout=5, max_size=2**22)
    c = Client(ws, Mirror(name="dashboard", token=token))
    hello = control.Hello(v=1, name="dashboard", token=token, spectate=True)
    await ws.send(control.encode(hello).decode())
    if welcome:
        await c.until(lambda c: c.mirror.welcomed)
    return c


def in_view(srv: Server, camera: int) -> set[int]:
    """Every live entity the camera's cell sees, by the server's own grid."""
    w = srv.state.world
    ids = [int(i) for i in w.players.ids] + [
        w.npcs.first_id + int(i) for i in np.flatnonzero(w.npcs.alive[: w.npcs.n])
    ]
    cam = int(w.cell[camera])
    return {i for i in ids if w.grid.sees(cam, int(w.cell[i]))}


async def test_a_spectator_sees_its_view_and_nobody_sees_it(start: ServerFactory) -> None:
    srv = await start(**WORLD)
    token = await admin_token(srv)
    cam = await spectate(srv, token)
    wel: Any = cam.mirror.welcome
    assert wel.spectator is True and wel.resume_token == "" and wel.resume_window == 0
    assert srv.state.player_count == 0 and wel.net_id in srv.state.spectators
    # It sees what the grid says its camera sees: the mirror agrees with the server.
    await cam.until(lambda c: set(c.mirror.entities) == in_view(srv, c.nid), 10)
    assert cam.nid not in cam.mirror.entities

    # A player standing at the camera sees the NPCs, never the camera.
    player = await join(srv, "walker")
    pw: Any = player.mirror.welcome
    await player.move(pw.x, pw.y, pw.z, 0.0)
    await player.drain(0.3)
    assert cam.nid not in player.mirror.entities

    # The camera flies across the world at once: no IMPOSSIBLE_MOVE, a new view.
    w = srv.state.world
    before = set(cam.mirror.entities)
    await cam.move(1200.0, 1200.0, 0.0, 0.0)
    await wait_for(lambda: int(w.cell[cam.nid]) == w.grid.cell_of(1200.0, 1200.0))
    await cam.until(lambda c: set(c.mirror.entities) == in_view(srv, c.nid), 10)
    assert set(cam.mirror.entities) != before
    assert not [t for t in cam.texts if t.get("op") in ("error", "correct")]

    # It is nobody in the world: it cannot speak there.
    await cam.ws.send(control.encode(control.Chat(text="hello")).decode())
    err = await cam.text("error")
    assert err["code"] == ErrorCode.BAD_FIELD and "spectator" in err["message"]
    who = control.encode(control.Who(ids=sorted(cam.mirror.entities)[:3])).decode()
    await cam.ws.send(who)
    assert (await cam.text("who"))["entities"]

    await cam.ws.close()
    await wait_for(lambda: not srv.state.spectators)
    assert srv.state.player_count == 1
    await player.ws.close()


async def test_only_administrators_spectate(start: ServerFactory) -> None:
    srv = await start(**WORLD, allow_guests=True)
    await register(srv, "plain")
    plain = str((await login(srv, "plain"))["access_token"])
    for token in (plain, None):
        c = await spectate(srv, token, welcome=False)
        assert await c.closed_code() == CloseCode.AUTH_FAILED
        assert not c.mirror.welcomed
    assert not srv.state.spectators


async def test_a_spectator_takes_no_seat(start: ServerFactory) -> None:
    srv = await start(**WORLD, max_players=1)
    token = await admin_token(srv)
    player = await join(srv, "only")
    cam = await spectate(srv, token)
    assert srv.state.player_count == 1 and len(srv.state.spectators) == 1
    await cam.ws.close()
    await player.ws.close()


async def test_a_spectator_is_closed_when_its_session_ends(start: ServerFactory) -> None:
    srv = await start(**WORLD)
    account = await register(srv, "boss")
    assert srv.state.accounts is not None
    await srv.state.accounts.set_role(account["id"], "admin")
    tokens = await login(srv, "boss")
    cam = await spectate(srv, str(tokens["access_token"]))
    status, _, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200
    assert await cam.closed_code() == CloseCode.AUTH_FAILED
    await wait_for(lambda: not srv.state.spectators)
