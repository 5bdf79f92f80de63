"""One client connection: a thin asyncio layer over websockets' sans-I/O server protocol.

Why not the websockets asyncio server: it runs a task per connection and sends through
`await`; the tick must write thousands of frames synchronously and 10,000 idle players must
cost little memory. Here reading is callback-driven (no task per connection), control
messages go through the sans-I/O protocol, and STATE frames are written straight to the
transport (`server.net.frames`). Every protocol violation is answered with the catalogue's
error or close code; nothing a client sends can raise out of this class.

This is transport only: the phases follow `protocol.session`'s table, sessions are routed
by URL path (`SESSION_ROUTES`), decoded messages go to the game layer (`server.game`), which
owns every rule (joining, chat, talk, movement) and answers through the `Client` methods
here. websockets' private internals are reached only through `server.net.wsadapter`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import secrets
import socket
import time
from typing import TYPE_CHECKING, cast

from websockets.frames import Frame, Opcode

try:  # the C implementation; the pure-Python one is ~50x slower
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask
from websockets.http11 import Request, Response
from websockets.protocol import State

from protocol import control
from protocol.catalogue import CloseCode, ErrorCode, FrameType, ProtocolError
from protocol.session import ACCEPTS, Accept, Phase, Step, advance
from protocol.state import INPUT, decode_input
from server.limits import ERROR_BUDGET, ERROR_WINDOW
from server.net import wsadapter
from server.net.api import PlainHttp
from server.net.backlog import kernel_unsent, socket_fd
from server.net.frames import binary_frame
from server.net.http import OPS_PATHS, plain_response, route, too_large
from server.state import ServerState

if TYPE_CHECKING:
    from server.admin.session import AdminSession
    from server.game.player import Player

log = logging.getLogger("ganggpt.net")
_ws_log = logging.getLogger("ganggpt.websocket")
_ws_log.setLevel(logging.WARNING)

CHAT_LIMITED = (control.Chat, control.Custom)  # messages under CHAT_RATE_LIMIT as well
CLOSE_GRACE = 5.0  # seconds to finish a closing handshake before the socket is cut
INPUT_SIZE = INPUT.size  # 25-byte payload: a client frame is 2 header + 4 mask + 25 bytes
INPUT_WIRE = 2 + 4 + INPUT_SIZE
INPUT_LEN_BYTE = 0x80 | INPUT_SIZE  # second header byte: masked, 25-byte payload
INPUT_UNPACK = INPUT.unpack
INPUT_TYPE = int(FrameType.INPUT)
# Enum members the per-message path tests, as globals: on Python 3.11 `Phase.PLAYING` takes
# EnumType's __getattr__ slow path, several times the cost of a global read.
PLAYING = Phase.PLAYING
HTTP = Phase.HTTP

# WebSocket sessions by URL path (query string ignored): upgrades are served on these paths
# only. `/admin` is the admin console (server/admin, SPEC §19): its messages go to an
# AdminSession instead of the game.
SESSION_ROUTES: dict[str, Step] = {"/ws": Step.UPGRADE_GAME, "/admin": Step.UPGRADE_ADMIN}
ADMIN_OFF = "the admin console is not enabled on this server\n"


class Connection(asyncio.Protocol):
    # Slots: 10,000 idle connections must cost little memory (a dict per object would not).
    __slots__ = (
        "ack",
        "admin",
        "admitted",
        "api",
        "behind_since",
        "chat_times",
        "closing",
        "deadline",
        "errors",
        "fd",
        "flood_seconds",
        "fragment_over",
        "fragment_text",
        "fragments",
        "game",
        "head_bytes",
        "held",
        "ip",
        "join_task",
        "keep_for_resume",
        "last_ping",
        "lost",
        "max_message_size",
        "paused_since",
        "peer",
        "phase",
        "ping_out",
        "player",
        "rate_count",
        "rate_limit",
        "rate_second",
        "rate_warned",
        "refusal",
        "rtt_ms",
        "slot",
        "state",
        "transport",
        "ws",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.game = state.game
        cfg = state.config
        # The hello may be larger than later messages: a maximal one must always fit, whatever
        # MAX_MESSAGE_SIZE (SPEC §2); the limit drops to MAX_MESSAGE_SIZE once it is read.
        self.ws = wsadapter.new_server_protocol(
            max(cfg.max_message_size, control.HELLO_MAX_SIZE), _ws_log
        )
        self.transport: asyncio.Transport | None = None
        self.phase = Phase.HTTP
        self.closing = False
        self.lost = False
        self.peer = "?"
        self.ip = "?"
        self.admitted = False  # counted in state.admission (released when the socket goes)
        self.refusal: bytes | None = None  # the answer to a connection refused at accept
        now = time.monotonic()
        self.deadline = now + cfg.handshake_timeout
        self.last_ping = now
        self.ping_out: float | None = None
        self.rtt_ms: float | None = None  # round trip of the last keepalive ping (admin shows it)
        self.paused_since: float | None = None
        self.behind_since: float | None = None  # since when the client has not kept up
        self.fd = -1  # the socket, for the kernel's send queue (server.net.backlog)
        self.head_bytes = 0  # bytes of the HTTP request read so far
        self.api: PlainHttp | None = None  # reads an API request (/auth/...) instead of websockets
        self.fragments: list[bytes] | None = None
        self.fragment_text = False
        self.fragment_over = False  # a fragment of the message in progress was over the budget
        self.chat_times: collections.deque[float] | None = None  # chat/custom, made on first use
        # rate limiting: the game's budget until an admin console session is authed
        self.rate_limit = cfg.input_rate_limit
        self.rate_second = 0
        self.rate_count = 0
        self.flood_seconds = 0
        self.rate_warned = False
        # Read for every message: a slot costs a third of a read of the (pydantic) config.
        self.max_message_size = cfg.max_message_size
        self.errors: collections.deque[float] | None = None  # made on the first error
        # the game side, once playing
        self.player: Player | None = None
        self.slot = -1  # row in state.viewers once playing (set by the join service)
        self.keep_for_resume = True
        self.ack = 0
        self.join_task: asyncio.Task[None] | None = None
        # Bytes read while a tick was due (see data_received): the read itself (bytes) until a
        # second one joins it (then a bytearray).
        self.held: bytes | bytearray | None = None
        self.admin: AdminSession | None = None  # the console session, on /admin

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        cfg = self.state.config
        self.transport.set_write_buffer_limits(high=cfg.send_buffer_high)
        if cfg.socket_send_buffer:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.socket_send_buffer)
        self.fd = socket_fd(transport.get_extra_info("socket"))
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.ip = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        self.state.connections.add(self)
        if self.state.admission.connect(self.ip):
            self.admitted = True
            return
        # Answered when its request arrives (a client that has not finished sending its request
        # may fail to read an early answer), without reading it; one that sends nothing is cut
        # at the handshake deadline like any other.
        cap = cfg.max_connections_per_ip
        self.state.metrics.connections_refused.labels(reason="ip_connections").inc()
        log.info("%s: over %d connections from this address, refused (429)", self.peer, cap)
        self.api = None
        self.refusal = plain_response(
            429, "Too Many Requests", f"more than {cap} connections from your address\n"
        ).serialize()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admitted:
            self.admitted = False
            self.state.admission.disconnect(self.ip)
        self.lost = True
        self.closing = True  # nothing more is written to it, even before finish_lost runs
        # Bytes still held are dropped with the connection, as if the kernel had them.
        self.held = None
        st = self.state
        if time.monotonic() >= st.tick_due:
            st.held.append(self)  # 1,000 sockets dropping at once must not delay the tick
            st.metrics.held.inc()
            return
        self.finish_lost()

    def finish_lost(self) -> None:
        """The player leaves the world (kept for a resume) and the connection is forgotten.
        Runs once per connection, but is safe to call again."""
        wsadapter.forget_parser_error(self.ws)
        self.leave_world()
        self._end_admin()
        self.phase = advance(self.phase, Step.LOST)
        self.state.connections.discard(self)
        if self.join_task is not None and not self.join_task.done():
            self.join_task.cancel()

    def pause_writing(self) -> None:
        self.paused_since = time.monotonic()
        if self.slot >= 0:
            self.state.viewers.paused[self.slot] = True

    def resume_writing(self) -> None:
        self.paused_since = None
        if self.slot >= 0:
            self.state.viewers.paused[self.slot] = False

    def data_received(self, data: bytes) -> None:
        """Handle the bytes now, or hold them until the tick that is due has run.

        uvloop calls this for every readable socket before it runs a due timer, so without
        holding, 1,000 sockets with something costly to say (a leave, a hello) would each
        add their cost to the tick's start. Held bytes keep their order: once a connection
        holds, everything it receives joins the hold until `release_held`."""
        held = self.held
        if held is not None:
            if type(held) is bytes:
                held = self.held = bytearray(held)
            held += data
            if len(held) > self.max_message_size and self.transport is not None:
                self.transport.pause_reading()  # a flood waits in the kernel, not in memory
            return
        st = self.state
        now = time.monotonic()
        if now >= st.tick_due:
            # Most reads are held alone: copied only if another joins them (or, not being
            # bytes, the caller might reuse it).
            self.held = data if type(data) is bytes else bytearray(data)
            st.held.append(self)
            st.metrics.held.inc()
            return
        self.receive(data, now)

    def release_held(self) -> None:
        """Handle what was held, or the loss of the connection (called by the tick loop)."""
        data, self.held = self.held, None
        if self.lost:
            self.finish_lost()
            return
        if data is None or self.transport is None:
            return
        if len(data) > self.max_message_size and not self.closing:
            self.transport.resume_reading()
        self.receive(data if type(data) is bytes else bytes(data))

    def receive(self, data: bytes, now: float | None = None) -> None:
        # `now`: the monotonic clock, if the caller has just read it.
        # Nothing a client sends may raise out of here: the event loop would log a traceback
        # per connection (a flood of them is a denial of service on the log) and leave the
        # connection half alive.
        try:
            phase = self.phase
            # Whole INPUT frames, with no partial frame or message held by the parser (so the
            # next byte starts a frame): nearly every read a busy server gets.
            if (
                phase is PLAYING
                and not len(data) % INPUT_WIRE
                and self.fragments is None
                and wsadapter.at_frame_boundary(self.ws)
            ):
                data = self._fast_inputs(data, now)
                if not data:
                    return
            elif phase is HTTP:
                if self.closing:
                    return  # answered (see _answer_http): the rest is not read
                if self.refusal is not None:
                    self._answer_http(self.refusal)
                    return
                first = self.head_bytes == 0
                self.head_bytes += len(data)
                if first or self.api is not None:
                    rest = self._plain_http(data)
                    if rest is None:
                        return  # an API request (server.net.api) took the bytes
                    data = rest
            self.ws.receive_data(data)
            events = self.ws.events_received()
            for i, ev in enumerate(events):
                if self.closing:
                    break
                if isinstance(ev, Frame):
                    self._on_frame(ev)
                elif isinstance(ev, Request):
                    self._on_request(ev, pipelined=i + 1 < len(events))
            if self.phase is Phase.HTTP and not self.closing:
                self._check_request_head()
            self.flush()
        except Exception as e:
            self._crashed(e)

    def _check_request_head(self) -> None:
        """Refuse a request head that is too large (or that websockets refused) at once, instead
        of holding up to a megabyte of headers until the handshake deadline."""
        st = self.state
        if self.ws.handshake_exc is not None:
            st.metrics.http_refused.labels(reason="malformed").inc()
            self.closing = True  # websockets answered (400, 414 or 431) and sent EOF
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self.abort)
        elif self.head_bytes > st.config.http_request_max:
            st.metrics.http_refused.labels(reason="too_large").inc()
            self._answer_http(too_large(st.config.http_request_max))

    def _crashed(self, e: Exception) -> None:
        """A bug met one connection's bytes: drop that connection, say so in one line."""
        self.state.metrics.connection_errors.inc()
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        log.warning("%s: dropped: %s: %s (at %s)", self.peer, type(e).__name__, e, where)
        log.debug("%s: dropped", self.peer, exc_info=e)
        self.closing = True
        try:
            self.leave_world()
        except Exception as again:
            log.warning("%s: leaving the world failed too: %r", self.peer, again)
        self.abort()

    def _fast_inputs(self, data: bytes, now: float | None = None) -> bytes:
        """Decode whole masked INPUT frames directly: 20,000 of them a second arrive at a
        busy server, and this is a third of the cost of the general parser. Anything that is
        not exactly such a frame goes back to the parser, untouched. Returns what is left.

        A valid INPUT goes from its unmasked bytes straight to `Movement.move`; one that is
        not (another frame type, a coordinate not finite) takes `_on_message`, whose
        `decode_input` answers it with its catalogue error. The clock is read once per read
        (`now`, when `data_received` has read it): its frames count in the message budget of
        the second they are handled in."""
        second = int(time.monotonic() if now is None else now)
        limit = self.rate_limit
        move = self.game.movement.move
        # A while loop: building a range costs more than the compare and add of one frame.
        off = -INPUT_WIRE
        last = len(data) - INPUT_WIRE
        while off < last:
            off += INPUT_WIRE
            if data[off] != 0x82 or data[off + 1] != INPUT_LEN_BYTE:
                return data[off:]
            if self.closing or self.phase is not PLAYING:
                return b""
            # `_within_rate`'s common case inline: the same second, under the limit.
            if second == self.rate_second and self.rate_count < limit:
                self.rate_count += 1
            elif not self._within_rate(second):
                continue
            player = self.player
            if player is None:
                continue
            payload = apply_mask(data[off + 6 : off + INPUT_WIRE], data[off + 2 : off + 6])
            kind, seq, ack, x, y, z, h = INPUT_UNPACK(payload)
            # x * 0.0 is 0.0 exactly when x is finite (inf and nan give nan): one test for four.
            if kind != INPUT_TYPE or x * 0.0 + y * 0.0 + z * 0.0 + h * 0.0 != 0.0:
                self._on_message(False, payload)
                continue
            try:
                move(player, seq, ack, x, y, z, h)
            except ProtocolError as e:
                self.fail(e)
        return b""

    def eof_received(self) -> bool | None:
        if self.closing and self.phase is Phase.HTTP:
            return None  # answered already: the transport closes itself
        try:
            self.ws.receive_eof()
            self.flush()
        except Exception as e:
            self._crashed(e)
        return None

    # --- the Client interface (server.game.player.Client) ---

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def verified(self) -> bool:
        if self.closing or self.phase is not Phase.AUTH:
            return False
        self.phase = advance(self.phase, Step.VERIFIED)
        return True

    def admin_authed(self) -> bool:
        """The admin session's token was accepted (server.admin.session.AdminClient)."""
        if self.closing or self.phase is not Phase.ADMIN_AUTH:
            return False
        self.phase = advance(self.phase, Step.ADMIN_AUTHED)
        # An operator's scripted console sends more than a game client: its own budget, given
        # only past the token check so an unauthenticated socket keeps the game's.
        self.rate_limit = self.state.config.admin_rate_limit
        return True

    def bind(self, player: Player, slot: int) -> bool:
        if self.closing or self.phase is not Phase.JOINING:
            return False
        self.player = player
        self.slot = slot
        self.phase = advance(self.phase, Step.WELCOMED)
        return True

    # --- writing ---

    def flush(self) -> None:
        t = self.transport
        if t is None:
            return
        for data in self.ws.data_to_send():
            if data:
                t.write(data)
            else:
                t.close()  # EOF: the protocol is done; close after the buffer drains
                return
        if self.ws.state is State.CLOSED and not t.is_closing():
            t.close()
        if t.get_write_buffer_size() > self.state.config.client_send_queue_max:
            self._overflow()

    def send_state(self, payload: bytes) -> None:
        """Hot path, called by the flush step: one write, no await, no protocol object.

        Never drops a frame: whether this client gets a patch at all was decided at assembly
        (`Viewers.paused`), and its sequence numbers already count this one."""
        if self.closing or self.transport is None:
            return
        t = self.transport
        t.write(binary_frame(payload))
        # Only a paused client (over SEND_BUFFER_HIGH) can be near the cap: one flag test here.
        if (
            self.paused_since is not None
            and t.get_write_buffer_size() > self.state.config.client_send_queue_max
        ):
            self._overflow()

    def _overflow(self) -> None:
        """The server holds more than CLIENT_SEND_QUEUE_MAX bytes for this client: close it
        (4006) and stop reading it, so nothing it sends (pings above all: each one queues a
        pong) can queue more; the memory comes back when the transport is aborted."""
        if self.closing or self.transport is None:
            return
        cap = self.state.config.client_send_queue_max
        self.state.metrics.slow_clients.labels(reason="queue_full").inc()
        log.info("%s: over %d bytes queued, closing (4006)", self.peer, cap)
        self.transport.pause_reading()
        self.close(CloseCode.TOO_SLOW, f"more than {cap} bytes queued")

    def send(self, msg: control.ServerMessage) -> None:
        if self.closing or self.ws.state is not State.OPEN:
            return
        self.ws.send_text(control.encode(msg))
        self.flush()

    def send_raw_text(self, data: bytes) -> None:
        if self.closing or self.ws.state is not State.OPEN:
            return
        self.ws.send_text(data)
        self.flush()

    def close(self, code: CloseCode, reason: str = "", *, keep_for_resume: bool = True) -> None:
        """Close with a catalogue code. Safe to call twice and from anywhere."""
        if self.closing or self.lost:
            return
        self.closing = True
        self.keep_for_resume = self.keep_for_resume and keep_for_resume
        self.state.metrics.closes.labels(code=str(int(code))).inc()
        if self.ws.state is State.OPEN:
            self.ws.send_close(int(code), reason.encode()[:120].decode("utf-8", "ignore"))
        self.flush()
        self.leave_world()
        self._end_admin()
        self.phase = advance(self.phase, Step.CLOSE)
        asyncio.get_running_loop().call_later(CLOSE_GRACE, self.abort)

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    # --- reading ---

    def _answer_http(self, data: bytes) -> None:
        """Write a plain HTTP response and end the connection. Written directly, not through
        websockets: after a pipelined second request its parser has already given up (and
        sent EOF), and a second EOF raises. Anything the client sends after it is dropped.

        Half-closed rather than closed: closing a socket with unread input makes the kernel
        send a reset, which can destroy the answer before the client has read it."""
        self.closing = True
        t = self.transport
        if t is not None:
            t.write(data)
            if t.can_write_eof():
                t.write_eof()  # the client closes its side after reading; eof_received ends it
            else:  # pragma: no cover - TCP transports can
                t.close()
        asyncio.get_running_loop().call_later(CLOSE_GRACE, self.abort)

    def _plain_http(self, data: bytes) -> bytes | None:
        """Show the request's first bytes to server.net.api: a request for an API path (with
        a body, answered asynchronously) is read there; anything else comes back for websockets."""
        if self.api is None:
            self.api = PlainHttp(
                self.state, self.ip, self._answer_api, self.deadline, self._serves_get
            )
        rest = self.api.feed(data)
        if rest is not None:
            self.api = None
        return rest

    def _serves_get(self, path: str) -> bool:
        if path in SESSION_ROUTES:
            return True
        return not self.state.config.metrics_separate and path in OPS_PATHS

    def _answer_api(self, data: bytes) -> None:
        if not self.lost and not self.closing:
            self._answer_http(data)

    def _on_request(self, request: Request, pipelined: bool = False) -> None:
        if self.phase is not Phase.HTTP:
            return  # one upgrade per connection
        response = route(self.state, request)
        step: Step | None = None
        if response is None:
            path = request.path.split("?", 1)[0]
            step = SESSION_ROUTES.get(path)
            if step is Step.UPGRADE_ADMIN and self.state.admin is None:
                step = None
            response = self._refuse_upgrade(request, path, step is not None)
            if response is None:
                response = self.ws.accept(request)
        if step is None or response.status_code != 101:
            self._answer_http(response.serialize())
            return
        self.ws.send_response(response)
        self.phase = advance(self.phase, step)
        if step is Step.UPGRADE_ADMIN and self.state.admin is not None:
            self.admin = self.state.admin.session(self)
        # Only when the parser waits at a frame boundary: nothing parsed after the request.
        if not pipelined:
            wsadapter.drop_handshake_parser(self.ws)

    def _refuse_upgrade(self, request: Request, path: str, routed: bool) -> Response | None:
        """The answer refusing this upgrade (429 handshake rate, 404 path, 403 Origin), or
        None to accept it. The rate counts every upgrade asked for, on any path."""
        st = self.state
        wait = st.admission.handshake(self.ip)
        if wait:
            st.metrics.connections_refused.labels(reason="handshake_rate").inc()
            cfg = st.config
            response = plain_response(
                429,
                "Too Many Requests",
                f"more than {cfg.handshakes_per_ip} WebSocket handshakes in"
                f" {cfg.handshake_rate_window:g} s from your address\n",
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        if not routed:
            text = ADMIN_OFF if path == "/admin" else f"no WebSocket service at {path}; use /ws\n"
            st.metrics.connections_refused.labels(reason="path").inc()
            return plain_response(404, "Not Found", text)
        origin = request.headers.get("Origin")
        if not st.admission.origin_allowed(origin, request.headers.get("Host")):
            st.metrics.connections_refused.labels(reason="origin").inc()
            log.info("%s: upgrade from origin %.100r refused (403)", self.peer, origin)
            return plain_response(403, "Forbidden", "this page's origin may not connect\n")
        return None

    def _on_frame(self, frame: Frame) -> None:
        op = frame.opcode
        if op is Opcode.CLOSE:
            self.keep_for_resume = (
                self.keep_for_resume
                and self.ws.close_rcvd is not None
                and (self.ws.close_rcvd.code != CloseCode.NORMAL)
            )
            return
        # Every other frame counts against the message budget (SPEC §10.2): data frames (each
        # fragment of a fragmented message), pings (websockets has already queued the pong;
        # CLIENT_SEND_QUEUE_MAX bounds those) and unsolicited pongs alike.
        within = self._within_rate()
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if frame.fin:
                if within:
                    self._on_message(op is Opcode.TEXT, bytes(frame.data))
            else:
                self.fragments = [bytes(frame.data)]
                self.fragment_text = op is Opcode.TEXT
                self.fragment_over = not within
        elif op is Opcode.CONT:
            if self.fragments is not None:
                self.fragments.append(bytes(frame.data))
                self.fragment_over = self.fragment_over or not within
                if frame.fin:
                    data = b"".join(self.fragments)
                    self.fragments = None
                    if not self.fragment_over:
                        self._on_message(self.fragment_text, data)
        elif op is Opcode.PONG:
            if self.ping_out is not None:
                self.rtt_ms = (time.monotonic() - self.ping_out) * 1000.0
            self.ping_out = None

    def _on_message(self, is_text: bool, data: bytes) -> None:
        phase = self.phase
        if phase is Phase.PLAYING:
            player = self.player
            if player is None:
                return
            try:
                if is_text:
                    msg = control.decode_client(data)
                    if isinstance(msg, CHAT_LIMITED) and not self._within_chat_rate():
                        return
                    self.game.dispatch(player, msg)
                else:
                    # Movement validates the ack too (SPEC §11) before it becomes `self.ack`.
                    self.game.movement.on_input(player, decode_input(data))
            except ProtocolError as e:
                self.fail(e)
            return
        if phase is Phase.ADMIN or phase is Phase.ADMIN_AUTH:
            if self.admin is not None:  # counted in the message budget by _on_frame
                self.admin.on_message(is_text, data)
            return
        accept = ACCEPTS[phase]
        if accept is Accept.HELLO:
            try:
                if not is_text:
                    raise ProtocolError(
                        "the first message must be a JSON hello", close=CloseCode.BAD_HELLO
                    )
                hello = control.decode_first(data)
            except ProtocolError as e:
                self.fail(e)
                return
            self.ws.max_message_size = self.state.config.max_message_size
            self.phase = advance(phase, Step.HELLO)
            task = self.game.join.begin(self, hello)
            if task is not None:
                self.join_task = task
                task.add_done_callback(self._joined)
            return
        if accept is Accept.NOT_READY:
            self.fail(ProtocolError("wait for the welcome", error=ErrorCode.NOT_READY))

    def fail(self, e: ProtocolError, ref: int | None = None) -> None:
        """Answer a protocol violation with its code; too many of them close the connection."""
        if e.close is not None:
            self.close(e.close, e.message)
            return
        assert e.error is not None
        self.state.metrics.errors.labels(code=e.error.name).inc()
        self.send(control.error(e.error, e.message, ref))
        now = time.monotonic()
        if self.errors is None:
            self.errors = collections.deque()
        self.errors.append(now)
        while self.errors and now - self.errors[0] > ERROR_WINDOW:
            self.errors.popleft()
        if len(self.errors) > ERROR_BUDGET:
            self.close(
                CloseCode.TOO_MANY_ERRORS,
                f"more than {ERROR_BUDGET} bad messages in {ERROR_WINDOW:.0f} s",
            )

    def _within_chat_rate(self) -> bool:
        """chat and custom messages: at most CHAT_RATE_LIMIT per CHAT_RATE_WINDOW seconds
        (sliding), on top of the message budget; each one over is dropped with error 18."""
        cfg = self.state.config
        now = time.monotonic()
        times = self.chat_times
        if times is None:
            times = self.chat_times = collections.deque(maxlen=cfg.chat_rate_limit)
        if len(times) == times.maxlen and now - times[0] < cfg.chat_rate_window:
            self.fail(
                ProtocolError(
                    f"over {cfg.chat_rate_limit} chat and custom messages in"
                    f" {cfg.chat_rate_window:g} s; dropped",
                    error=ErrorCode.CHAT_RATE_LIMITED,
                )
            )
            return False
        times.append(now)
        return True

    def _within_rate(self, second: int | None = None) -> bool:
        """Count one message against the connection's budget a second (INPUT_RATE_LIMIT, or
        ADMIN_RATE_LIMIT once an admin is logged in); False if it is dropped. `second` is
        int(time.monotonic()) when the caller has read the clock already."""
        limit = self.rate_limit
        if second is None:
            second = int(time.monotonic())
        if second != self.rate_second:
            over = self.rate_count > limit
            self.flood_seconds = (
                self.flood_seconds + 1 if over and second == self.rate_second + 1 else 0
            )
            self.rate_second = second
            self.rate_count = 0
            self.rate_warned = False
        self.rate_count += 1
        if self.rate_count <= limit:
            return True
        close_after = self.state.config.flood_close_after
        if self.flood_seconds + 1 >= close_after:
            self.close(CloseCode.FLOODING, f"over {limit} messages/s for {close_after} s")
            return False
        if not self.rate_warned:
            self.rate_warned = True
            self.fail(
                ProtocolError(f"over {limit} messages/s; dropped", error=ErrorCode.RATE_LIMITED)
            )
        return False

    # --- joining and leaving ---

    def _joined(self, task: asyncio.Task[None]) -> None:
        # A finished task keeps its coroutine: five objects per player for the collector.
        if self.join_task is task:
            self.join_task = None

    def leave_world(self) -> None:
        """Hand the player back to the game (out of the world, kept for a resume unless it
        said leave); from then on nothing it sends is handled."""
        player = self.player
        if player is None:
            return
        self.player = None
        if self.phase is Phase.PLAYING:
            self.phase = advance(self.phase, Step.CLOSE)
        self.game.join.leave(player, keep_for_resume=self.keep_for_resume)

    def _end_admin(self) -> None:
        admin, self.admin = self.admin, None
        if admin is not None:
            admin.ended()

    # --- housekeeping, called about once a second off the tick ---

    def housekeep(self, now: float) -> None:
        cfg = self.state.config
        if self.closing or self.phase is Phase.CLOSED or self.phase is Phase.CLOSING:
            return
        if self.phase in (Phase.HTTP, Phase.HELLO, Phase.ADMIN_AUTH) and now > self.deadline:
            if self.phase is Phase.HTTP:
                self.abort()
            elif self.phase is Phase.ADMIN_AUTH:
                self.close(
                    CloseCode.HANDSHAKE_TIMEOUT, f"no auth within {cfg.handshake_timeout:g} s"
                )
            else:
                self.close(
                    CloseCode.HANDSHAKE_TIMEOUT, f"no hello within {cfg.handshake_timeout:g} s"
                )
            return
        if self.phase is Phase.PLAYING and self._behind(now):
            return
        if self.ws.state is not State.OPEN:
            return
        if self.ping_out is not None:
            if now - self.ping_out > cfg.ping_timeout:
                log.info("%s: no pong in %.0f s, dropping", self.peer, cfg.ping_timeout)
                self.leave_world()
                self.abort()
        elif now - self.last_ping >= cfg.ping_interval:
            self.last_ping = self.ping_out = now
            self.ws.send_ping(secrets.token_bytes(4))
            self.flush()

    def _behind(self, now: float) -> bool:
        """Close a client that has not kept up for SLOW_CLIENT_TIMEOUT (True if closed).

        Behind = over SEND_BUFFER_HIGH bytes not yet acknowledged by its TCP stack, counting
        the kernel's send queue: a client that stops reading fills that (MBs) long before the
        server's own buffer, so the write buffer alone would see it only at the keepalive."""
        cfg = self.state.config
        t = self.transport
        if t is None:
            return False
        queued = t.get_write_buffer_size() + kernel_unsent(self.fd)
        if self.paused_since is None and queued <= cfg.send_buffer_high:
            self.behind_since = None
            return False
        if self.behind_since is None:
            self.behind_since = self.paused_since or now
        if now - self.behind_since <= cfg.slow_client_timeout:
            return False
        self.state.metrics.connections_refused.labels(reason="too_slow").inc()
        self.state.metrics.slow_clients.labels(reason="behind").inc()
        log.info(
            "%s: %d bytes unread for %.0f s, closing (4006)",
            self.peer,
            queued,
            now - self.behind_since,
        )
        self.close(CloseCode.TOO_SLOW, f"not reading for {cfg.slow_client_timeout:g} s")
        return True
