"""Input that arrives while a tick is due is held, then handled after the tick, in order.

The ticks are stopped and the due moment is set by hand, so what is held and when it is
released does not depend on timing."""

from __future__ import annotations

import asyncio
import math

import orjson

from protocol.catalogue import CloseCode
from server.state import ServerState
from tests.server.conftest import Client, ServerFactory, open_client


async def _until_held(st: ServerState, timeout: float = 5.0) -> None:
    """Wait (bounded) until the server has held something back."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not st.held and loop.time() < end:
        await asyncio.sleep(0.01)


async def test_messages_held_while_a_tick_is_due_run_after_it_in_order(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0, spawn_area_size=10.0)
    st = srv.state
    a = await open_client(srv.url, "speaker")
    b = await open_client(srv.url, "listener")
    clients += [a, b]
    await b.drain(0.2)  # a few ticks: both are placed in the grid
    srv.tick.stop()  # no more ticks: the test says when one is due
    st.tick_due = 0.0  # a tick is overdue: everything read now must wait for it
    await a.ws.send(orjson.dumps({"op": "chat", "text": "last words"}).decode())
    await a.ws.send(orjson.dumps({"op": "leave"}).decode())
    await _until_held(st)
    await asyncio.sleep(0.1)  # both messages are in (one read or two)
    assert len(st.held) == 1 and a.mirror.player_id in st.players  # held, not handled
    assert (st.metrics.registry.get_sample_value("ganggpt_held_reads_total") or 0) >= 1

    st.tick_due = math.inf  # the tick has run
    srv.tick.release_held()
    said = await b.text("chat")  # the chat was handled first: the speaker was still there
    assert said["text"] == "last words" and said["name"] == "speaker"
    assert await a.closed_code() == CloseCode.NORMAL  # then the leave
    assert a.mirror.player_id not in st.players and not st.held


async def test_without_a_due_tick_input_is_handled_at_once(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0, spawn_area_size=10.0)
    a = await open_client(srv.url, "speaker")
    b = await open_client(srv.url, "listener")
    clients += [a, b]
    await b.drain(0.2)  # a few ticks: both are placed in the grid
    srv.tick.stop()  # tick_due is now infinity
    await a.ws.send(orjson.dumps({"op": "chat", "text": "hi"}).decode())
    assert (await b.text("chat"))["text"] == "hi"
    assert not srv.state.held


async def test_a_connection_lost_while_a_tick_is_due_leaves_the_world_after_it(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0)
    st = srv.state
    a = await open_client(srv.url, "dropper")
    pid = a.mirror.player_id
    await a.drain(0.1)
    srv.tick.stop()
    st.tick_due = 0.0
    a.ws.transport.abort()  # the TCP connection drops without a close handshake
    await _until_held(st)
    assert st.held and pid in st.players  # the loss waits for the tick

    st.tick_due = math.inf
    srv.tick.release_held()
    assert pid not in st.players and pid in st.reserved  # left, kept for a resume
    assert not st.connections


async def test_a_server_always_behind_still_handles_held_messages_after_each_tick(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(npc_count=0, spawn_area_size=10.0)
    st = srv.state
    a = await open_client(srv.url, "speaker")
    b = await open_client(srv.url, "listener")
    clients += [a, b]
    await b.drain(0.2)
    srv.tick.stop()
    st.tick_due = 0.0  # and it stays due: the next tick is always late
    await a.ws.send(orjson.dumps({"op": "chat", "text": "still here"}).decode())
    await _until_held(st)
    srv.tick.release_held()  # between ticks: nothing, the tick comes first
    assert st.held
    srv.tick.release_held(after_tick=True)  # right after a tick: one batch whatever the time
    assert not st.held
    assert (await b.text("chat"))["text"] == "still here"
