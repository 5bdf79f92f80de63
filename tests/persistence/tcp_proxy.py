"""A loopback TCP proxy the tests control, to cut a service without touching the service.

Why: an outage test must make PostgreSQL or Redis unreachable for the server under test only;
stopping the machine's shared services would break every other run. The server under test is
pointed at this proxy; `cut()` resets every open connection and resets new ones at once
(the client sees "connection reset", as when a database host goes away), `blackhole()` accepts
connections and forwards nothing (the client sees timeouts), `restore()` forwards again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "open"  # "open" | "cut" | "blackhole"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._reset_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()

    def cut(self) -> None:
        self.mode = "cut"
        self._reset_all()

    def blackhole(self) -> None:
        self.mode = "blackhole"
        self._reset_all()

    def restore(self) -> None:
        self.mode = "open"

    @staticmethod
    def _reset(w: asyncio.StreamWriter) -> None:
        sock = w.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()

    def _reset_all(self) -> None:
        for client, upstream in list(self._pipes):
            self._reset(client)
            if upstream is not None:
                upstream.transport.abort()
        self._pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "cut":
            self._reset(writer)
            return
        if self.mode == "blackhole":
            pair_bh: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
            self._pipes.add(pair_bh)
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._reset(writer)
            return
        pair = (writer, up_writer)
        self._pipes.add(pair)
        a = asyncio.create_task(self._pump(reader, up_writer))
        b = asyncio.create_task(self._pump(up_reader, writer))
        for t in (a, b):
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
        await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        self._pipes.discard(pair)
        for w in (writer, up_writer):
            w.transport.abort()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
