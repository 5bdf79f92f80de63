"""Fixtures that run real servers on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from config import load_config
from protocol.mirror import Event, Mirror
from server.app import Server, start_server
from server.persistence.api import GamePersistence
from server.persistence.memory import MemoryPersistence

BASE = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 50,
    "log_level": "warning",
    "sqlite_path": "",
}


class Client:
    """A raw test client: a websockets connection plus the sans-I/O mirror, nothing clever."""

    def __init__(self, ws: ClientConnection, mirror: Mirror) -> None:
        self.ws = ws
        self.mirror = mirror
        self.events: list[Event] = []
        self.frames: list[tuple[float, bytes]] = []
        self.texts: list[dict[str, Any]] = []

    @property
    def nid(self) -> int:
        assert self.mirror.net_id is not None
        return self.mirror.net_id

    async def recv_one(self, timeout: float = 5.0) -> list[Event]:
        import orjson

        data = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(data, str):
            self.texts.append(orjson.loads(data))
        else:
            self.frames.append((time.time(), data))
        evs = self.mirror.receive(data, time.time())
        self.events.extend(evs)
        return evs

    async def until(self, pred: Callable[[Client], bool], timeout: float = 5.0) -> None:
        """Read until `pred(self)` holds; fail with what was seen if it does not in time."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred(self):
            left = end - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"condition not met in {timeout}s; last texts: {self.texts[-3:]}"
                )
            await self.recv_one(left)

    async def text(self, op: str, timeout: float = 5.0) -> dict[str, Any]:
        """Next JSON message with this op (reading and applying frames meanwhile)."""
        start = len(self.texts)
        await self.until(lambda c: any(t.get("op") == op for t in c.texts[start:]), timeout)
        return next(t for t in self.texts[start:] if t.get("op") == op)

    async def move(self, x: float, y: float, z: float = 0.0, heading: float = 0.0) -> None:
        await self.ws.send(self.mirror.input(x, y, z, heading))

    async def walk(self, x: float, y: float, speed: float = 400.0, rate: float = 30.0) -> None:
        """Walk in a straight line at `speed` m/s, sending inputs at `rate` Hz, reading meanwhile."""
        assert self.mirror.local is not None
        x0, y0, z0, h = self.mirror.local
        dist = math.hypot(x - x0, y - y0)
        steps = max(1, math.ceil(dist / (speed / rate)))
        for i in range(1, steps + 1):
            f = i / steps
            await self.move(x0 + (x - x0) * f, y0 + (y - y0) * f, z0, h)
            await self.drain(1.0 / rate)

    async def drain(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                await self.recv_one(left)
            except TimeoutError:
                return

    async def closed_code(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; return its close code."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        try:
            while loop.time() < end:
                await self.recv_one(end - loop.time())
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
        raise AssertionError("server did not close the connection")


async def open_client(
    url: str, name: str, *, resume: str | None = None, welcome: bool = True, **kw: Any
) -> Client:
    # A test that stops reading leaves its client's queue full, so the server's close frame is
    # never read: teardown would wait websockets' default 10 s per such client.
    kw.setdefault("close_timeout", 2)
    ws = await connect(url, compression=None, open_timeout=5, max_size=2**22, **kw)
    m = Mirror(name=name)
    m.resume_token = resume
    c = Client(ws, m)
    if welcome:
        await ws.send(m.hello().decode())
        await c.until(lambda c: c.mirror.welcomed)
        c.mirror.local = (
            c.mirror.welcome.x,
            c.mirror.welcome.y,
            c.mirror.welcome.z,
            c.mirror.welcome.heading,
        )  # type: ignore[union-attr]
    return c


ServerFactory = Callable[..., Awaitable[Server]]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The server runs on uvloop in production, so its tests do too."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def start() -> AsyncIterator[ServerFactory]:
    """`await start(**config_overrides)` -> a running in-process server, closed after the test."""
    servers: list[Server] = []

    async def factory(persistence: GamePersistence | None = None, **overrides: Any) -> Server:
        if overrides.get("env") == "production":
            # Its default /health and /metrics port is fixed: tests run side by side.
            overrides.setdefault("metrics_port", 0)
        cfg = load_config(**{**BASE, **overrides})
        srv = await start_server(cfg, persistence or MemoryPersistence())
        servers.append(srv)
        return srv

    yield factory
    for s in servers:
        try:
            await asyncio.wait_for(s.close(drain=False), 60)
        except TimeoutError:
            # A hang here once stalled a whole CI run: fail this test, and say where it hung.
            for task in asyncio.all_tasks():
                task.print_stack(limit=8, file=sys.stderr)
            raise AssertionError("the server did not close within 60 s") from None


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    await asyncio.gather(*(c.ws.close() for c in opened))
