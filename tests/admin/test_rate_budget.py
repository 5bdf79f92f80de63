"""An authenticated /admin socket has its own message budget (ADMIN_RATE_LIMIT) instead of the
game's INPUT_RATE_LIMIT: a scripted console outpaces a game client, and is still bounded with
the same error 9 and close 4007 (SPEC §19.1, §10.2)."""

from __future__ import annotations

import asyncio

from websockets.exceptions import ConnectionClosed

from protocol.catalogue import CloseCode, ErrorCode
from tests.admin.support import Admin, account, open_admin
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH

LIMITS = {
    "input_rate_limit": 10,
    "admin_rate_limit": 60,
    "flood_close_after": 2,
    "admin_command_rate": 1000,
}


async def burst(a: Admin, n: int) -> list[int]:
    return [await a.send("help") for _ in range(n)]


async def test_console_outpaces_the_game_budget_within_its_own(start: ServerFactory) -> None:
    srv = await start(**AUTH, **LIMITS)
    _, token = await account(srv, "Boss", "admin")
    a = await open_admin(srv, token)
    # Four times the game's budget at once: every command is answered (some `rate_limited` by
    # the in-flight cap, none dropped), no error 9, the socket stays open.
    refs = await burst(a, 40)
    answers = [await a.result(ref) for ref in refs]
    assert all(r["ok"] or r["error"]["code"] == "rate_limited" for r in answers)
    assert sum(r["ok"] for r in answers) >= 8
    assert (await a.ok("help"))["commands"]
    await a.ws.close()


async def test_console_over_its_own_budget_gets_error_9_then_4007(start: ServerFactory) -> None:
    srv = await start(**AUTH, **LIMITS)
    _, token = await account(srv, "Boss", "admin")
    a = await open_admin(srv, token)
    seen: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    code = None
    try:
        while loop.time() < end:
            await burst(a, 100)  # over 60 in any one second
            while True:
                try:
                    msg = await a.read(0.05)
                except TimeoutError:
                    break
                if msg.get("op") == "error":
                    seen.append(msg)
    except ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
    assert code == CloseCode.FLOODING
    assert seen and seen[0]["code"] == ErrorCode.RATE_LIMITED
    assert "over 60 messages/s" in str(seen[0]["message"])


async def test_admin_command_rate_bounds_commands_per_account(start: ServerFactory) -> None:
    srv = await start(**AUTH, admin_command_rate=5)
    _, token = await account(srv, "Boss", "admin")
    a = await open_admin(srv, token)
    # One after another: 12 in at most two one-second windows of 5 each.
    answers = [await a.cmd("help") for _ in range(12)]
    refused = [r for r in answers if not r["ok"]]
    assert len(refused) >= 2
    assert all(r["error"]["code"] == "rate_limited" for r in refused)
    assert "over 5 commands a second" in refused[0]["error"]["message"]
    await a.ws.close()
