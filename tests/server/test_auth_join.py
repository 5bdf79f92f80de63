"""Joining with accounts over real sockets: the identity is the token's `sub`, never the
hello's name (server/game/identity.py, server/game/join.py); ended sessions close live
connections; bans survive a restart."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from websockets.asyncio.client import connect

from config import load_config
from protocol.catalogue import CloseCode
from protocol.mirror import Mirror
from server.app import Server, default_persistence
from tests.server.conftest import BASE, Client, ServerFactory
from tests.server.test_accounts_http import AUTH, SECRET, call, forge, login, register


async def join(
    srv: Server, name: str, token: str | None = None, *, expect_welcome: bool = True
) -> Client:
    ws = await connect(srv.url, compression=None, open_timeout=5, max_size=2**22)
    c = Client(ws, Mirror(name=name, token=token))
    await ws.send(c.mirror.hello().decode())
    if expect_welcome:
        await c.until(lambda c: c.mirror.welcomed)
    return c


async def refused(srv: Server, name: str, token: str | None = None) -> int | None:
    c = await join(srv, name, token, expect_welcome=False)
    try:
        return await c.closed_code()
    finally:
        await c.ws.close()
        assert not c.mirror.welcomed


def refusals(srv: Server, reason: str) -> float:
    got = srv.state.metrics.registry.get_sample_value(
        "ganggpt_connections_refused_total", {"reason": reason}
    )
    return got or 0.0


async def wait_for(pred: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


def welcome(c: Client) -> Any:
    assert c.mirror.welcome is not None
    return c.mirror.welcome


async def test_a_name_alone_never_gets_a_registered_players_player(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    ana = await register(srv, "ana")
    token = (await login(srv, "ana"))["access_token"]

    live = await join(srv, "ana", token)
    assert welcome(live).player_id == ana["id"] and welcome(live).guest is False

    # A guest saying "ana" (or a look-alike) while ana plays is refused; ana plays on.
    before = refusals(srv, "name")
    for name in ("ana", "ANA", "\u0430na"):  # Cyrillic а
        assert await refused(srv, name) == CloseCode.BAD_HELLO
    assert refusals(srv, "name") == before + 3
    await live.drain(0.2)  # still receiving patches: not closed
    assert srv.state.players[ana["id"]].client is not None
    assert not srv.state.players[ana["id"]].client.closing

    # ana gone, the name is free, yet a guest "ana" is another player.
    await live.ws.close()
    await wait_for(lambda: ana["id"] not in srv.state.players)
    guest = await join(srv, "ana")
    assert welcome(guest).guest is True and welcome(guest).player_id != ana["id"]
    guest_pid = welcome(guest).player_id
    await guest.ws.close()
    await wait_for(lambda: guest_pid not in srv.state.players)

    # The same guest name finds the same guest player; the token still finds ana's.
    again = await join(srv, "ana")
    assert welcome(again).player_id == guest_pid
    await again.ws.close()
    await wait_for(lambda: guest_pid not in srv.state.players)
    back = await join(srv, "ana", token)
    assert welcome(back).player_id == ana["id"]
    await back.ws.close()


async def test_bad_tokens_are_refused_with_4004(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    await register(srv, "Niko")
    good = await login(srv, "Niko")
    claims = jwt.decode(good["access_token"], options={"verify_signature": False})
    now = int(time.time())
    revoked = await login(srv, "Niko")
    status, _, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": revoked["refresh_token"]}
    )
    assert status in (200, 204)
    bad = {
        "garbage": "not.a.token",
        "expired": forge({**claims, "iat": now - 120, "exp": now - 60}, SECRET),
        "alg none": forge(claims, None, "none"),
        "wrongly signed": forge(claims, secrets.token_hex(32)),
        "revoked by logout": revoked["access_token"],
        "no play:game": forge({**claims, "permissions": ["create:faction"]}, SECRET),
    }
    before = refusals(srv, "auth")
    for what, token in bad.items():
        assert await refused(srv, "Niko", token) == CloseCode.AUTH_FAILED, what
    assert refusals(srv, "auth") == before + len(bad)
    assert not srv.state.players
    # The good one still joins: the refusals above were about the tokens.
    c = await join(srv, "Niko", good["access_token"])
    assert welcome(c).player_id == claims["sub"]
    await c.ws.close()


async def test_a_token_joins_as_its_account_whatever_the_name_says(
    start: ServerFactory,
) -> None:
    srv = await start(**AUTH)
    niko = await register(srv, "Niko")
    roman = await register(srv, "Roman")
    token = (await login(srv, "Roman"))["access_token"]
    c = await join(srv, "Niko", token)
    w = welcome(c)
    assert (w.player_id, w.name, w.guest) == (roman["id"], "Niko", False)
    player = srv.state.players[roman["id"]]
    ident = player.identity
    assert (ident.account_id, ident.guest, ident.tier) == (roman["id"], False, "free")
    assert ident.sid is not None and "play:game" in ident.permissions
    assert niko["id"] not in srv.state.players
    await c.ws.close()
    # The display name is given back when the player leaves.
    await wait_for(lambda: srv.state.accounts is not None and not srv.state.accounts.names)


async def test_ended_sessions_close_live_connections(start: ServerFactory) -> None:
    srv = await start(**AUTH, single_session=True)
    await register(srv, "Niko")
    first = await login(srv, "Niko")
    c = await join(srv, "Niko", first["access_token"])
    second = await login(srv, "Niko")  # single session: the first one ends
    assert await c.closed_code() == CloseCode.REPLACED
    c2 = await join(srv, "Niko", second["access_token"])
    status, _, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": second["refresh_token"]}
    )
    assert status in (200, 204)
    assert await c2.closed_code() == CloseCode.AUTH_FAILED


async def test_a_ban_closes_the_player_and_keeps_it_out_after_a_restart(
    start: ServerFactory, tmp_path: Path
) -> None:
    db = str(tmp_path / "game.db")
    cfg = load_config(**{**BASE, **AUTH, "sqlite_path": db})
    srv = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    account = await register(srv, "Trevor")
    bystander = await register(srv, "Franklin")
    tokens = await login(srv, "Trevor")
    c = await join(srv, "Trevor", tokens["access_token"])
    other = await join(srv, "Franklin", (await login(srv, "Franklin"))["access_token"])
    assert srv.state.accounts is not None
    await srv.state.accounts.ban(account["id"], until=math.inf, reason="speed hack")
    assert await c.closed_code() == CloseCode.KICKED
    await other.drain(0.2)
    assert not srv.state.players[bystander["id"]].client.closing
    assert await refused(srv, "Trevor", tokens["access_token"]) == CloseCode.AUTH_FAILED
    await other.ws.close()
    await srv.close(drain=False)

    again = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    status, body, _ = await call(
        again, "POST", "/auth/login", {"username": "Trevor", "password": "correct horse battery"}
    )
    assert (status, body["error"]) == (403, "banned"), body
    assert await refused(again, "Trevor", tokens["access_token"]) == CloseCode.AUTH_FAILED
    # Even a correctly signed token for a live-looking session cannot bring the account in.
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    fresh = forge({**claims, "iat": int(time.time()), "exp": int(time.time()) + 60}, SECRET)
    assert await refused(again, "Trevor", fresh) == CloseCode.AUTH_FAILED
    assert account["id"] not in again.state.players


async def test_guests_are_refused_in_production(start: ServerFactory) -> None:
    srv = await start(**AUTH, env="production")
    assert await refused(srv, "Visitor") == CloseCode.AUTH_FAILED
    await register(srv, "Niko")
    c = await join(srv, "Niko", (await login(srv, "Niko"))["access_token"])
    assert welcome(c).guest is False
    await c.ws.close()
