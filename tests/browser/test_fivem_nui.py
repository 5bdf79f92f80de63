"""The FiveM example end to end, minus FiveM: its server script runs under Node with the `ws`
package against a live server (client_sdk/js/test/fivem_nui_feed.mjs, with the FXServer
stand-in), relays a conversation with an NPC, and its NUI page, served over HTTP and fed the
relayed messages the way FiveM's SendNUIMessage delivers them (window "message" events),
renders the NPC's reply in headless Chromium."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.server.conftest import ServerFactory

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "client_sdk" / "js"
NUI_DIR = JS / "examples" / "fivem" / "ganggpt" / "html"


def node() -> str:
    found = shutil.which("node")
    if found is None or not (JS / "node_modules" / "ws").is_dir():
        why = "node and client_sdk/js/node_modules are needed (make js-test installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


@pytest.fixture
def nui_url() -> Iterator[str]:
    """The NUI page over plain HTTP on a free port (FiveM serves it from https://cfx-nui-...)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(NUI_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def relayed(url: str, text: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        node(),
        str(JS / "test" / "fivem_nui_feed.mjs"),
        url,
        text,
        cwd=str(JS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    got: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return got


async def test_the_nui_page_renders_a_relayed_npc_conversation(
    start: ServerFactory, browser: Any, nui_url: str, artifacts: Path
) -> None:
    srv = await start(npc_count=12, spawn_area_size=120.0)
    feed = await relayed(srv.url, "Where can I find work?")
    messages = feed["messages"]
    reply = next(
        m["message"]
        for m in messages
        if m["type"] == "npc"
        and m["message"]["op"] == "npc_say"
        and m["message"]["npc"] == feed["npc"]["id"]
    )
    assert reply["text"]

    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(nui_url)
    for m in messages:  # SendNUIMessage(m) arrives as a window "message" event with data = m
        await page.evaluate("m => window.postMessage(m, '*')", m)
    # The reply, streamed in parts and then whole, is one line in the dialogue panel.
    line = page.locator("#lines .line", has_text=reply["text"][:40])
    await line.first.wait_for(timeout=10000)
    assert await page.locator("#lines .line.streaming").count() == 0
    who = await line.first.locator(".who").inner_text()
    assert who.strip()  # the NPC's name, from the relayed npc list
    await page.screenshot(path=str(artifacts / "fivem-nui.png"))
    assert not errors, errors
