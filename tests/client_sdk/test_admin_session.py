"""AdminSession (client_sdk/admin/session.py) against a steerable stand-in server: tokens
refreshed ahead of expiry, reconnects after a drop or a drain, final ends said plainly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from client_sdk.admin import AdminSession, CommandFailed, LoginFailed, SessionEnded
from client_sdk.admin.session import endpoints
from tests.client_sdk.fake_admin import PASSWORD, FakeAdmin, serve

pytestmark = pytest.mark.timeout(60)


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAdmin, str]]:
    f = FakeAdmin()
    runner, url = await serve(f)
    yield f, url
    await runner.cleanup()


def test_endpoints_follow_the_scheme() -> None:
    assert endpoints("ws://h:1/anything") == ("http://h:1", "ws://h:1/admin")
    assert endpoints("wss://h") == ("https://h", "wss://h/admin")
    assert endpoints("127.0.0.1:22005") == ("http://127.0.0.1:22005", "ws://127.0.0.1:22005/admin")


async def test_a_wrong_password_is_refused_with_the_servers_words(
    fake: tuple[FakeAdmin, str],
) -> None:
    _, url = fake
    session = AdminSession(url, "root", "nope")
    with pytest.raises(LoginFailed) as err:
        await session.start()
    assert (err.value.status, err.value.code) == (401, "bad_credentials")
    assert "nope" not in str(err.value)


async def test_commands_answers_and_errors(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    pushes: list[tuple[str, dict[str, Any]]] = []
    async with AdminSession(url, "root", PASSWORD, on_push=lambda t, d: pushes.append((t, d))) as s:
        assert s.commands == f.commands
        assert await s.call("echo", {"a": 1}) == {"a": 1}
        with pytest.raises(CommandFailed) as err:
            await s.call("players.ban", {"player": "x"})
        assert err.value.code == "unknown_command"
        answers = await asyncio.gather(*(s.call("echo", {"i": i}) for i in range(20)))
        assert [a["i"] for a in answers] == list(range(20))  # each answer to its own call
        await f.push("events", {"kind": "player_joined", "name": "Ana"})
        await until(lambda: bool(pushes))
        assert pushes == [("events", {"kind": "player_joined", "name": "Ana"})]
        last_refresh = f.refresh
    assert f.logouts == [last_refresh]  # leaving ends the login session on the server


async def test_a_rate_limited_command_is_sent_again(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    async with AdminSession(url, "root", PASSWORD) as s:
        f.limited = 2
        assert await s.call("echo", {"n": 1}) == {"n": 1}
        assert f.received.count("echo") == 3
        f.limited = 10**6  # refused for longer than the caller waits: said so
        with pytest.raises(CommandFailed) as err:
            await s.call("echo", {}, timeout=0.6)
        assert err.value.code == "rate_limited"


async def test_tokens_are_refreshed_before_they_expire(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    f.ttl = 2.0
    async with AdminSession(url, "root", PASSWORD) as s:
        await until(lambda: f.refreshes >= 2)
        # From the next rotation on, tokens live long: no refresh can land between the
        # reconnect below and the check of the token it used (a race on a loaded machine).
        f.ttl = 3600.0
        await until(lambda: f.refreshes >= 3)
        # The server now holds only the newest pair: a reconnect must use it, and does.
        await f.drop(4004, "token expired")
        await until(lambda: len(f.auths) >= 2 and s.connected)
        assert f.auths[-1] == f.access
        assert await s.call("echo", {"ok": True}) == {"ok": True}
    assert f.logins == 1


async def test_a_drain_reconnects_and_resubscribes(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    said: list[str] = []
    async with AdminSession(url, "root", PASSWORD, on_status=said.append) as s:
        await s.subscribe(["metrics"])
        await f.drop(1012, "restarting")
        await until(lambda: "reconnected" in said)
        assert any("restarting" in m for m in said)
        await until(lambda: len(f.subscribed) == 2)
        assert f.subscribed[-1] == ["metrics"]
        assert (await s.call("players.list"))["players"][0]["name"] == "Big Ana"


async def test_a_revoked_session_ends_every_call(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    said: list[str] = []
    async with AdminSession(url, "root", PASSWORD, on_status=said.append) as s:
        f.refresh = "revoked elsewhere"  # logout everywhere: refresh is refused from now on
        await f.drop(4004, "session revoked")
        with pytest.raises(SessionEnded):
            await s.call("echo", {})
    assert any("ended the login session" in m for m in said)


async def test_an_account_without_admin_rights_is_told_so(fake: tuple[FakeAdmin, str]) -> None:
    f, url = fake
    f.commands = []
    session = AdminSession(url, "root", PASSWORD)
    with pytest.raises(SessionEnded, match="may not use the admin console"):
        await session.start()
    await session.close()
