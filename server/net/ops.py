"""The operations listener: `/health` and `/metrics` on their own address and port.

Why: the game port faces the internet; the metrics (player counts, error rates, the process's
memory) and the health details are for the operator's monitoring, which reaches a private
address. With METRICS_PORT set (the default with ENV=production) they are served here and
the game port answers 404 for them. Plain HTTP/1.1 read by h11, one GET per connection, no
upgrade, nothing from storage (SPEC §15): a probe never waits on the database.
"""

from __future__ import annotations

import asyncio
from typing import cast

import h11
import orjson

from server.net.http import health
from server.net.plain import PlainResponse
from server.state import ServerState

HEAD_MAX = 8 * 1024


def answer(state: ServerState, method: str, path: str) -> PlainResponse:
    if path not in ("/health", "/metrics"):
        return PlainResponse(404, b"not found\n", "text/plain; charset=utf-8")
    if method != "GET":
        state.metrics.http_refused.labels(reason="method").inc()
        return PlainResponse(405, b"GET only\n", "text/plain; charset=utf-8", (("Allow", "GET"),))
    if path == "/health":
        status, body = health(state)
        return PlainResponse(status, orjson.dumps(body), "application/json")
    return PlainResponse(200, state.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")


class OpsConnection(asyncio.Protocol):
    __slots__ = ("_conn", "_done", "_timer", "state", "transport")

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_MAX)
        self._done = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # A probe that never finishes its request is cut, as on the game port.
        self._timer = asyncio.get_running_loop().call_later(
            self.state.config.handshake_timeout, self.transport.abort
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._conn.receive_data(data)
        try:
            while True:
                event = self._conn.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Request):
                    path = event.target.decode("latin-1").split("?", 1)[0]
                    self._reply(answer(self.state, event.method.decode("latin-1"), path))
                    return
                if isinstance(event, h11.ConnectionClosed):
                    return
        except h11.RemoteProtocolError as err:
            self.state.metrics.http_refused.labels(reason="malformed").inc()
            self._reply(
                PlainResponse(err.error_status_hint, b"bad request\n", "text/plain; charset=utf-8")
            )
        except Exception:  # never let a request raise into the loop
            self._reply(PlainResponse(500, b"error\n", "text/plain; charset=utf-8"))

    def _reply(self, response: PlainResponse) -> None:
        self._done = True
        t = self.transport
        if t is None:
            return
        t.write(response.serialize())
        if t.can_write_eof():
            t.write_eof()
        else:  # pragma: no cover
            t.close()


async def start_ops(state: ServerState) -> asyncio.Server:
    host, port = state.config.metrics_bind
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: OpsConnection(state), host, port, reuse_address=True, backlog=128
    )
