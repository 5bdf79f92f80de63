"""Plain HTTP on the game port against hostile requests (issue 12, items 16 and 19)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.raw import sample, wait_for


async def _raw_http(port: int, *chunks: bytes, timeout: float = 5.0) -> bytes:
    """Write each chunk, then read until the server closes (bounded by `timeout`)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 5)
        for chunk in chunks:
            try:
                await loop.sock_sendall(sock, chunk)
            except ConnectionError:
                break  # the server has answered and stopped reading
            await asyncio.sleep(0.01)  # separate reads on the server
        got = b""
        end = loop.time() + timeout
        while (left := end - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65536), left)
            except ConnectionError:
                break
            if not data:
                break
            got += data
        else:
            raise AssertionError(f"the server did not close in {timeout} s; got {got[:200]!r}")
        return got
    finally:
        sock.close()


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


async def test_pipelined_requests_get_the_first_answer_then_a_close(
    start: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await start()
    caplog.set_level(logging.INFO)
    both = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    got = await _raw_http(srv.port, both)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:100]
    assert got.count(b"HTTP/1.1 ") == 1 and b'"status"' in got
    assert b"Connection: close" in got
    # An upgrade pipelined behind a plain request is not answered either.
    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    got = await _raw_http(srv.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade)
    assert got.startswith(b"HTTP/1.1 404") and got.count(b"HTTP/1.1 ") == 1
    _no_tracebacks(caplog)


async def test_a_handler_error_drops_one_connection_with_one_line(
    start: ServerFactory,
    clients: list[Client],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever raises while a connection's bytes are handled: no traceback, a metric, that
    connection closed, the server and its other clients unaffected."""
    srv = await start()
    bystander = await open_client(srv.url, "bystander")
    clients.append(bystander)

    def broken(*_: object) -> None:
        raise RuntimeError("route is broken")

    monkeypatch.setattr("server.net.connection.route", broken)
    got = await _raw_http(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got == b""
    assert sample(srv, "ganggpt_connection_errors_total") == 1
    _no_tracebacks(caplog)
    assert any("route is broken" in r.getMessage() for r in caplog.records)
    before = bystander.mirror.last_seq
    await bystander.drain(0.3)
    assert bystander.mirror.last_seq > before


async def test_an_oversized_request_head_is_refused_at_once(
    start: ServerFactory, clients: list[Client]
) -> None:
    """Headers that never end were held until the handshake deadline, up to ~1 MB each."""
    srv = await start(handshake_timeout=30.0, http_request_max=8192)
    head = b"GET /ws HTTP/1.1\r\nHost: x\r\n"
    pad = [b"X-Pad-%d: %s\r\n" % (i, b"p" * 200) for i in range(60)]  # 12 KB, never ended
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    got = await _raw_http(srv.port, head, *[b"".join(pad[i : i + 10]) for i in range(0, 60, 10)])
    assert got.startswith(b"HTTP/1.1 431 "), got[:100]
    assert loop.time() - t0 < 10  # not the 30 s handshake deadline
    assert sample(srv, "ganggpt_http_requests_refused_total", reason="too_large") == 1
    await wait_for(lambda: not srv.state.connections, 5, "the connection was dropped")
    # A large but honest upgrade (a 6 KB cookie) still joins.
    c = await open_client(srv.url, "cookie", additional_headers={"Cookie": "c=" + "k" * 6000})
    clients.append(c)
    assert c.mirror.welcomed
