"""A raw-socket WebSocket client for hostile tests: it writes what it likes and reads only when
told to, so the server sees a client that never reads (websockets' own client always does)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Close
from websockets.uri import parse_uri

from server.app import Server
from server.net.connection import Connection
from tests.server.test_framing import masked


class RawClient:
    def __init__(self, sock: socket.socket, proto: ClientProtocol) -> None:
        self.sock = sock
        self.proto = proto

    async def send(self, data: bytes, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(self.sock, data), timeout)

    async def send_text(self, text: bytes) -> None:
        await self.send(masked(1, text))

    async def read_close(self, timeout: float = 10.0) -> Close | None:
        """Read everything the server sent, until it closes; the close frame it sent, if any."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.proto.close_rcvd is None and (left := end - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), left)
            except (TimeoutError, ConnectionError):
                break
            if not data:
                break
            self.proto.receive_data(data)
        return self.proto.close_rcvd

    def close(self) -> None:
        self.sock.close()


async def raw_connect(port: int, *, rcvbuf: int = 0) -> RawClient:
    """Connect and send the upgrade request, without reading the answer."""
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/ws"), max_size=None)
    proto.send_request(proto.connect())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 5)
    raw = RawClient(sock, proto)
    await raw.send(b"".join(proto.data_to_send()))
    return raw


async def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `cond` until it holds; fail naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def server_side(srv: Server, name: str) -> Connection:
    return next(c for c in srv.state.connections if c.player is not None and c.player.name == name)


def sample(srv: Server, metric: str, **labels: str) -> float:
    value = srv.state.metrics.registry.get_sample_value(metric, labels)
    return value or 0.0
