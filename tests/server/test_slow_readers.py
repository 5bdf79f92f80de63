"""Clients that do not read: what the server holds for them is bounded, they are closed with
4006, and everyone else keeps their patch rate (issue 12, items 15 and 20)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import orjson

from protocol.catalogue import CloseCode, ErrorCode
from protocol.state import decode_header
from server.net.http import _rss_mb
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.raw import raw_connect, sample, server_side, wait_for
from tests.server.test_framing import masked

TICKS_PER_PATCH = 2  # TICKRATE 60 / SEND_RATE 30


def _steady(c: Client, since: float) -> int:
    """Frames `c` got after `since`; fails if any patch was skipped between two of them."""
    ticks = [decode_header(f)[2] for t, f in c.frames if t >= since]
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(g == TICKS_PER_PATCH for g in gaps), f"patches skipped: tick gaps {gaps}"
    return len(ticks)


async def test_a_ping_flood_that_never_reads_is_capped_closed_and_freed(
    start: ServerFactory, clients: list[Client]
) -> None:
    """Pings are answered with pongs; a client that sends them and never reads once made the
    server queue pongs without limit (740 MB in 15 s)."""
    cap = 256 * 1024
    srv = await start(
        npc_count=0,
        spawn_area_size=10.0,
        idle_patch_interval=0.0,
        client_send_queue_max=cap,
        flood_close_after=1000,  # this test is about the queue, not the rate limit
    )
    observer = await open_client(srv.url, "observer")
    clients.append(observer)
    flooder = await raw_connect(srv.port)
    await flooder.send_text(b'{"op":"hello","v":1,"name":"flooder"}')
    await wait_for(lambda: srv.state.player_count == 2, 5, "the flooder joined")
    conn = server_side(srv, "flooder")
    rss0 = _rss_mb()
    pings = masked(9, b"p" * 125) * 500
    loop = asyncio.get_running_loop()
    since = loop.time() + 0.0
    watch = asyncio.create_task(observer.drain(20.0))
    most = 0
    try:
        end = loop.time() + 15
        while sample(srv, "ganggpt_slow_client_closes_total", reason="queue_full") == 0:
            assert loop.time() < end, f"never closed; {most} bytes queued"
            assert most < 16 * cap, f"queue grew to {most} bytes, past the {cap} cap"
            with contextlib.suppress(TimeoutError):
                await flooder.send(pings, timeout=0.2)
            if conn.transport is not None:
                most = max(most, conn.transport.get_write_buffer_size())
        assert sample(srv, "ganggpt_closes_total", code="4006") == 1
        # Nothing more is queued once it is closed (its pings are no longer read), and the
        # connection (and its buffer) is gone after the close grace.
        for _ in range(20):
            with contextlib.suppress(TimeoutError, ConnectionError):
                await flooder.send(pings, timeout=0.05)
            if conn.transport is not None and not conn.lost:
                most = max(most, conn.transport.get_write_buffer_size())
        await wait_for(lambda: conn not in srv.state.connections, 10, "the flooder was cut")
        assert most <= cap + 512 * 1024, most  # the cap, plus what one read can answer
        assert _rss_mb() - rss0 < 64, "the server grew while flooded"
        assert srv.state.player_count == 1
    finally:
        flooder.close()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    # The observer got every patch all along: none skipped, none late enough to coalesce.
    assert _steady(observer, since) >= 20


async def test_websocket_pings_count_towards_the_rate_limit(
    start: ServerFactory, clients: list[Client]
) -> None:
    srv = await start(input_rate_limit=20, flood_close_after=2)
    a = await open_client(srv.url, "pinger")
    clients.append(a)
    for i in range(60):
        await a.ws.ping(str(i))
    msg = await a.text("error")
    assert msg["code"] == ErrorCode.RATE_LIMITED

    async def keep_pinging() -> None:
        for _ in range(400):
            await a.ws.ping()
            await a.ws.ping()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(keep_pinging())
    try:
        assert await a.closed_code(timeout=8) == CloseCode.FLOODING
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_a_client_that_stops_reading_is_closed_4006_long_before_the_keepalive(
    start: ServerFactory, clients: list[Client]
) -> None:
    """The client handshakes, says hello and never reads. Its own socket and the server's
    kernel buffer take megabytes before the server's buffer moves; it used to be cut by the
    keepalive (40 s, reset) instead of the documented 4006 after SLOW_CLIENT_TIMEOUT."""
    srv = await start(
        npc_count=0,
        spawn_area_size=10.0,
        idle_patch_interval=0.0,
        slow_client_timeout=2.0,
        send_buffer_high=16 * 1024,
        input_rate_limit=10_000,
        chat_rate_limit=5_000,  # chat fills the reader's buffers
        chat_rate_window=1.0,
    )
    observer = await open_client(srv.url, "observer")
    clients.append(observer)
    sleeper = await raw_connect(srv.port)
    await sleeper.send_text(b'{"op":"hello","v":1,"name":"sleeper"}')
    await wait_for(lambda: srv.state.player_count == 2, 5, "the sleeper joined")
    # Chat in view of the sleeper: about 100 KB/s that it never reads.
    chat = orjson.dumps({"op": "chat", "text": "x" * 256}).decode()
    loop = asyncio.get_running_loop()
    t0 = since = loop.time()
    try:
        while sample(srv, "ganggpt_closes_total", code="4006") == 0:
            assert loop.time() - t0 < 15, "the sleeper was not closed with 4006"
            for _ in range(20):
                await observer.ws.send(chat)
            await observer.drain(0.05)
        took = loop.time() - t0
        assert took < 15  # the keepalive would take 40 s; SLOW_CLIENT_TIMEOUT is 2 s
        assert sample(srv, "ganggpt_slow_client_closes_total", reason="behind") == 1
        # Reading at last, the sleeper finds the documented close at the end of its backlog.
        close = await sleeper.read_close(timeout=10)
        assert close is not None and close.code == CloseCode.TOO_SLOW, close
    finally:
        sleeper.close()
    await observer.drain(0.3)
    assert _steady(observer, since) >= 20
