"""The dashboard in headless Chromium against a real server: log in, the live map's dots are
exactly the entities the server has in the spectator's view, the charts fill from the admin
`metrics` push, a bot is kicked from the players table (its connection closes with 4011), and
an NPC opened from the map shows the memory a conversation left. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client_sdk.client import Client as Bot
from protocol.catalogue import CloseCode
from protocol.mirror import Npc
from server.app import Server
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH, PW, login, register
from tests.server.test_spectator import in_view

WORLD = {**AUTH, "npc_count": 300, "spawn_area_size": 500.0}


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        assert loop.time() < end, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)


async def make_admin(srv: Server, name: str = "boss") -> None:
    account = await register(srv, name)
    assert srv.state.accounts is not None
    await srv.state.accounts.set_role(account["id"], "admin")


async def open_dashboard(browser: Any, srv: Server, name: str) -> Any:
    page = await browser.new_page(viewport={"width": 1500, "height": 1150})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await page.goto(f"http://127.0.0.1:{srv.port}/dashboard")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PW)
    await page.click("#login-submit")
    return page


async def test_dashboard_map_charts_kick_and_npc_memory(
    start: ServerFactory, browser: Any, artifacts: Path
) -> None:
    srv = await start(**WORLD)
    await make_admin(srv)
    bot = Bot(srv.url, "kickme")
    await bot.start()
    try:
        page = await open_dashboard(browser, srv, "boss")
        await page.wait_for_selector("#app-view:not([hidden])", timeout=15000)
        await page.wait_for_selector("#conn-status.ok", timeout=15000)

        # The map draws exactly the entities the server has in the camera's view.
        camera = int(await page.get_attribute("#map", "data-camera") or -1)
        assert camera in srv.state.spectators

        async def agree() -> bool:
            dots = int(await page.get_attribute("#map", "data-dots") or -1)
            return dots > 0 and dots == len(in_view(srv, camera))

        await eventually(agree, 20, "the map's dot count to equal the server's view")
        assert len(in_view(srv, camera)) > 100  # the NPCs and the bot, not a trivial view

        # Charts fill from the metrics push (1 Hz).
        await eventually(
            lambda: page.evaluate("Number(document.getElementById('charts').dataset.points||0)>=3"),
            20,
            "three metrics pushes charted",
        )
        await page.screenshot(path=str(artifacts / "dashboard-map.png"))

        # The bot talks to an NPC; the dashboard opens that NPC from the map and shows the
        # memory the conversation left.
        npc = next(e for e in bot.entities.values() if isinstance(e, Npc))
        said = await bot.ask(npc.net_id, "Remember me: I am the one with the red car.")
        assert said.text
        box = await page.locator("#map").bounding_box()
        assert box is not None

        async def click_npc() -> bool:
            # NPCs walk: read where it is drawn right before clicking there.
            at = await page.evaluate(f"window.dashboard.map.screenOf({npc.net_id})")
            if at is None:
                return False
            await page.mouse.click(box["x"] + at[0], box["y"] + at[1])
            shown = await page.get_attribute("#npc-inspector", "data-npc")
            return shown == str(npc.net_id)

        await eventually(click_npc, 15, "the NPC opened from the map")
        await page.wait_for_selector(f"#npc-inspector[data-npc='{npc.net_id}']", timeout=10000)
        memory = page.locator("#npc-memories li", has_text="red car")
        await memory.first.wait_for(timeout=15000)
        # Edited live: a memory added in the inspector is stored and shown back.
        await page.fill("#npc-memory-add input[name=content]", "Owes the boss a favour.")
        await page.click("#npc-memory-add button")
        await page.locator("#npc-memories li", has_text="Owes the boss").first.wait_for(
            timeout=10000
        )
        await page.fill("#npc-persona textarea[name=personality]", "Wary of strangers in red cars.")
        await page.click("#npc-persona button[type=submit]")
        await eventually(
            lambda: page.evaluate(
                "window.dashboard.npcData.persona.personality === 'Wary of strangers in red cars.'"
            ),
            10,
            "the server's answer to carry the new personality",
        )
        # The README's screenshot (docs/screenshots/dashboard.png is a copy of this one).
        await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

        # Kick the bot from the players table: its connection closes with 4011.
        row = page.locator("#players tbody tr[data-name='kickme']")
        await row.wait_for(timeout=10000)
        await row.locator("button", has_text="kick").click()
        err = await bot.wait_closed(15)
        assert err is not None and err.code == CloseCode.KICKED
        await page.locator("#players tbody tr[data-name='kickme']").wait_for(
            state="detached", timeout=10000
        )
        await page.screenshot(path=str(artifacts / "dashboard-after-kick.png"), full_page=True)
        assert not page.errors, page.errors
    finally:
        await bot.close()


async def test_the_dashboard_is_for_administrators_only(start: ServerFactory, browser: Any) -> None:
    srv = await start(**WORLD)
    await register(srv, "pleb")
    page = await open_dashboard(browser, srv, "pleb")
    await page.wait_for_selector("#login-error:has-text('may not open')", timeout=15000)
    assert await page.is_hidden("#app-view")
    assert not srv.state.spectators
    token = (await login(srv, "pleb"))["access_token"]
    assert token  # the account itself logs in fine: only the admin surface is closed
