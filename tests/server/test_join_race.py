"""A login session that ends while its hello is being joined (after the token was checked,
before the player is seated) must not seat the player: the join is closed with 4004."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from protocol.catalogue import CloseCode
from server.app import Server
from server.game.identity import AccountAuthenticator
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH, call, login, register
from tests.server.test_auth_join import join, refusals, wait_for


class Gate:
    """Holds every player load until opened, so a test can act between identify and seat."""

    def __init__(self, srv: Server) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()
        repo = srv.state.persistence.repos.players
        real: Callable[..., Awaitable[Any]] = repo.get

        async def held(*args: Any, **kw: Any) -> Any:
            self.entered.set()
            await self.open.wait()
            return await real(*args, **kw)

        repo.get = held  # type: ignore[method-assign]


async def logout(srv: Server, tokens: dict[str, Any]) -> None:
    status, body, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200 and body["sessions_ended"] == 1


async def ban(srv: Server, account_id: str) -> None:
    assert srv.state.accounts is not None
    await srv.state.accounts.ban(account_id, until=float("inf"), reason="test")


@pytest.mark.parametrize("end", [logout, ban], ids=["logout", "ban"])
async def test_session_ended_while_joining_is_not_seated(
    start: ServerFactory, end: Callable[..., Awaitable[None]]
) -> None:
    srv = await start(**AUTH)
    account = await register(srv, "Lucia")
    tokens = await login(srv, "Lucia")
    gate = Gate(srv)
    c = await join(srv, "Lucia", tokens["access_token"], expect_welcome=False)
    await asyncio.wait_for(gate.entered.wait(), 10)  # identified; loading the player
    before = refusals(srv, "auth")
    await end(srv, tokens if end is logout else account["id"])
    gate.open.set()
    assert await c.closed_code() == CloseCode.AUTH_FAILED
    assert not c.mirror.welcomed
    assert account["id"] not in srv.state.players
    assert refusals(srv, "auth") == before + 1
    auth = srv.state.game.join.authenticator
    assert isinstance(auth, AccountAuthenticator)
    await wait_for(lambda: not auth._ended and not auth._joining)  # nothing kept after
    assert srv.state.accounts is not None and len(srv.state.accounts.names) == 0


async def test_another_sessions_end_does_not_stop_the_join(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    await register(srv, "Lucia")
    await register(srv, "Tommy")
    lucia = await login(srv, "Lucia")
    tommy = await login(srv, "Tommy")
    gate = Gate(srv)
    c = await join(srv, "Lucia", lucia["access_token"], expect_welcome=False)
    await asyncio.wait_for(gate.entered.wait(), 10)
    await logout(srv, tommy)  # someone else logs out meanwhile
    gate.open.set()
    await c.until(lambda c: c.mirror.welcomed, 10)
    await c.ws.close()
