"""A closed connection leaves no reference cycle behind.

The tick loop freezes what survives each full collection (`gc.freeze`), so the collector
never walks the heap of long-lived players again. A cycle among frozen objects is never
collected: every way a connection ends must free it by reference count alone."""

from __future__ import annotations

import asyncio
import gc

import orjson

from server.net.connection import Connection
from server.state import ServerState
from tests.server.conftest import Client, ServerFactory, open_client


def _server_garbage(state: ServerState) -> list[str]:
    """Kinds of this server's connection objects the collector has to find (no reference
    count frees them). Only this server's: a server an earlier test ran on a thread of its
    own may still be torn down now, and a whole server left behind is one big cycle."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [
            type(o).__name__
            for o in gc.garbage
            if type(o) is Connection and getattr(o, "state", None) is state
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


async def test_every_way_a_connection_ends_leaves_no_cycle(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=5, spawn_area_size=50.0, resume_window=30)
    st = srv.state
    gc.collect()  # whatever earlier tests left

    leaver = await open_client(srv.url, "leaver")
    dropper = await open_client(srv.url, "dropper")
    noisy = await open_client(srv.url, "noisy")
    first = await open_client(srv.url, "twin")
    clients += [leaver, dropper, noisy, first]
    await leaver.drain(0.1)

    await leaver.ws.send(orjson.dumps({"op": "leave"}).decode())  # said goodbye
    await leaver.closed_code()
    dropper.ws.transport.write_eof()  # TCP closed (FIN) with no close handshake
    reset = await open_client(srv.url, "reset")
    clients.append(reset)
    reset.ws.transport.abort()  # TCP reset
    for _ in range(30):  # kicked: too many malformed messages
        await noisy.ws.send("}")
    await noisy.closed_code()
    second = await open_client(srv.url, "twin")  # took over: the first one is closed 4010
    clients.append(second)
    await first.closed_code()

    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while len(st.connections) > 1 and loop.time() < end:
        await asyncio.sleep(0.05)
    assert len(st.connections) == 1  # only the second twin is left
    assert _server_garbage(st) == []
