"""HTTP API requests on the game port (`/auth/...`, `/dashboard...`): read with h11, answered asynchronously.

Why not websockets' parser, which reads every other request on this port: it refuses any
request with a body (a WebSocket handshake has none), and the API is JSON bodies. So the
connection shows the first line of each request to `PlainHttp.feed` first; a request for an API
path is read here in full by h11 (a maintained sans-I/O HTTP/1.1 parser: Content-Length and
chunked bodies, header limits), and anything else goes on to websockets untouched, as before.

Handlers are coroutines (a login waits for bcrypt on its thread pool and for the database); the
answer is written when one completes, then the connection is half-closed as every plain HTTP
answer is. Limits, each refused with its status and counted in
`ganggpt_http_requests_refused_total{reason}`: the head is capped at HTTP_REQUEST_MAX
(431), the body at `BODY_MAX` (413), and the answer must come before the connection's
handshake deadline (HANDSHAKE_TIMEOUT: 503 with Retry-After, `reason="api_timeout"`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import h11

from server.admin import http as admin_http
from server.auth import http as auth_http
from server.dashboard import files as dashboard_files
from server.net import cors
from server.net.plain import PlainRequest, PlainResponse
from server.state import ServerState

log = logging.getLogger("ganggpt.net")

BODY_MAX = 8 * 1024  # the largest API body (a registration is well under 1 KiB)
LINE_MAX = 8 * 1024  # bytes to wait for a request line before leaving it to websockets
ANSWER_MARGIN = 0.25  # seconds kept before the handshake deadline to write the answer

Handler = Callable[[ServerState, PlainRequest], Awaitable[PlainResponse]]

# Tasks of answers in progress: held so none is collected before it is done.
_running: set[asyncio.Task[None]] = set()


async def _auth(state: ServerState, request: PlainRequest) -> PlainResponse:
    if cors.is_preflight(request):
        found = auth_http.ENDPOINTS.get(request.path)
        return cors.preflight(state, request, None if found is None else found[0])
    return await auth_http.handle(state.accounts, request)


async def _dashboard(state: ServerState, request: PlainRequest) -> PlainResponse:
    return await dashboard_files.serve(request)


def handler_for(path: str) -> Handler | None:
    """The handler serving `path`, or None for paths websockets reads (/ws, /admin, /health...)."""
    if path == "/auth" or path.startswith("/auth/"):
        return _auth
    if path.startswith("/admin/"):  # `/admin` itself is the console's WebSocket
        return admin_http.handle
    if path == "/dashboard" or path.startswith("/dashboard/"):
        return _dashboard
    return None


def _target(line: bytes) -> tuple[bytes, str] | None:
    parts = line.split(b" ")
    if len(parts) != 3:
        return None
    return parts[0], parts[1].split(b"?", 1)[0].decode("latin-1")


def _refused(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return PlainResponse.json(status, {"error": "http", "message": message}, headers).serialize()


class PlainHttp:
    """The first request of one connection, while it is not yet known who reads it."""

    __slots__ = (
        "_body",
        "_buf",
        "_h11",
        "_request",
        "answer",
        "deadline",
        "get_paths",
        "ip",
        "state",
    )

    def __init__(
        self,
        state: ServerState,
        ip: str,
        answer: Callable[[bytes], None],
        deadline: float,
        get_paths: Callable[[str], bool] = lambda path: True,
    ) -> None:
        self.state = state
        self.get_paths = get_paths  # whether a non-API path is served (by GET) on this port
        self.ip = ip
        self.answer = answer  # writes the response and ends the connection
        self.deadline = deadline  # time.monotonic() by which the connection is cut
        self._buf = bytearray()
        self._h11: h11.Connection | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()

    def feed(self, data: bytes) -> bytes | None:
        """Bytes for websockets to parse once the request is not ours, else None (taken)."""
        if self._h11 is not None:
            self._receive(data)
            return None
        self._buf += data
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) < LINE_MAX:
                return None  # not even a request line yet
            return bytes(self._buf)  # websockets refuses the overlong line as it does today
        target = _target(bytes(self._buf[:end]).rstrip(b"\r"))
        if target is None:
            return bytes(self._buf)  # websockets answers 400
        method, path = target
        if handler_for(path) is None:
            if method == b"GET":
                return bytes(self._buf)
            # websockets reads GET only (and would answer 400): each path says what it serves.
            self._buf = bytearray()
            if self.get_paths(path):
                self._refuse(405, "method", f"{path} serves GET only", (("Allow", "GET"),))
            else:
                self._refuse(404, "path", f"nothing at {path}")
            return None
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.state.config.http_request_max
        )
        buffered, self._buf = bytes(self._buf), bytearray()
        self._receive(buffered)
        return None

    def _refuse(
        self, status: int, reason: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.state.metrics.http_refused.labels(reason=reason).inc()
        self._h11 = None
        self.answer(_refused(status, message, headers))

    def _receive(self, data: bytes) -> None:
        conn = self._h11
        if conn is None or (self._request is not None and conn.their_state is h11.DONE):
            return  # answered or being answered: anything more is not read
        conn.receive_data(data)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as err:
                status = err.error_status_hint
                self._refuse(
                    status,
                    "too_large" if status == 431 else "malformed",
                    "request head too large" if status == 431 else "not a valid HTTP request",
                )
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > BODY_MAX:
                    self._refuse(413, "body_too_large", f"body over {BODY_MAX} bytes")
                    return
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > BODY_MAX:
                    self._refuse(413, "body_too_large", f"body over {BODY_MAX} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _dispatch(self) -> None:
        req = self._request
        assert req is not None
        target = req.target.decode("latin-1")
        path, _, query = target.partition("?")
        handler = handler_for(path)
        assert handler is not None
        request = PlainRequest(
            method=req.method.decode("ascii", "replace").upper(),
            path=path,
            query=query,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in req.headers},
            body=bytes(self._body),
            client_ip=self.ip,
        )
        self._body = bytearray()
        task = asyncio.get_running_loop().create_task(self._answer(handler, request))
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def _answer(self, handler: Handler, request: PlainRequest) -> None:
        left = self.deadline - time.monotonic() - ANSWER_MARGIN
        try:
            async with asyncio.timeout(max(left, 0.05)):
                response = await handler(self.state, request)
        except TimeoutError:
            self.state.metrics.http_refused.labels(reason="api_timeout").inc()
            response = PlainResponse.json(
                503,
                {"error": "busy", "message": "the server is busy; try again shortly"},
                (("Retry-After", "1"),),
            )
        except Exception as err:  # a handler bug must still answer, and never crash the loop
            log.warning("%s %s: %s: %s", request.method, request.path, type(err).__name__, err)
            response = PlainResponse.json(500, {"error": "internal", "message": "server error"})
        if handler is _auth and not cors.is_preflight(request):
            # Every answer, busy and internal errors too, so a page can read why it failed.
            response = cors.with_cors(response, cors.allowed_origin(self.state, request))
        self.answer(response.serialize())
