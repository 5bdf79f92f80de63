"""One client connection: a thin asyncio layer over websockets' sans-I/O server protocol.

Why not the websockets asyncio server: it runs a task per connection and sends through
`await`; the tick must write thousands of frames synchronously and 10,000 idle players must
cost little memory. Here reading is callback-driven (no task per connection), control
messages go through the sans-I/O protocol, and STATE frames are written straight to the
transport (`server.net.frames`). Every protocol violation is answered with the catalogue's
error or close code; nothing a client sends can raise out of this class.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import math
import random
import secrets
import socket
import time
from typing import Any, cast

from websockets.frames import Frame, Opcode

try:  # the C implementation; the pure-Python one is ~50x slower
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from protocol import control
from protocol.catalogue import (
    PROTOCOL_VERSION,
    CloseCode,
    EntityKind,
    ErrorCode,
    ProtocolError,
)
from protocol.state import INPUT, InputFrame, decode_input
from server.limits import ERROR_BUDGET, ERROR_WINDOW, MOVE_SLACK_M, welcome_limits
from server.net.api import PlainHttp
from server.net.backlog import kernel_unsent, socket_fd
from server.net.frames import binary_frame
from server.net.http import route, too_large
from server.npc_talk import offline_reply
from server.persistence.api import PlayerSnapshot, ResumeSession
from server.state import ServerState
from server.world.who import who_reply

log = logging.getLogger("ganggpt.net")
_ws_log = logging.getLogger("ganggpt.websocket")
_ws_log.setLevel(logging.WARNING)

CLOSE_GRACE = 5.0
INPUT_SIZE = INPUT.size  # 25-byte payload: a client frame is 2 header + 4 mask + 25 bytes
INPUT_WIRE = 2 + 4 + INPUT_SIZE  # seconds to finish a closing handshake before the socket is cut


class Phase(enum.Enum):
    HTTP = "http"  # waiting for the HTTP request
    HELLO = "hello"  # WebSocket open, waiting for hello
    JOINING = "joining"  # hello accepted, loading the player
    PLAYING = "playing"
    CLOSED = "closed"


class Connection(asyncio.Protocol):
    # Slots: 10,000 idle connections must cost little memory (a dict per object would not).
    __slots__ = (
        "ack",
        "api",
        "armor",
        "behind_since",
        "budget_at",
        "closing",
        "deadline",
        "errors",
        "fd",
        "flood_seconds",
        "fragment_text",
        "fragments",
        "head_bytes",
        "held",
        "input_seq",
        "join_task",
        "keep_for_resume",
        "last_ping",
        "last_pos",
        "lost",
        "money",
        "move_budget",
        "name",
        "nid",
        "paused_since",
        "peer",
        "phase",
        "ping_out",
        "player_id",
        "rate_count",
        "rate_second",
        "rate_warned",
        "resume_token",
        "slot",
        "state",
        "transport",
        "ws",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        cfg = state.config
        # The hello may be larger than later messages: a maximal one must always fit, whatever
        # MAX_MESSAGE_SIZE (SPEC §2); the limit drops to MAX_MESSAGE_SIZE once it is read.
        self.ws = ServerProtocol(
            max_size=max(cfg.max_message_size, control.HELLO_MAX_SIZE), logger=_ws_log
        )
        self.transport: asyncio.Transport | None = None
        self.phase = Phase.HTTP
        self.closing = False
        self.lost = False
        self.peer = "?"
        now = time.monotonic()
        self.deadline = now + cfg.handshake_timeout
        self.last_ping = now
        self.ping_out: float | None = None
        self.paused_since: float | None = None
        self.behind_since: float | None = None  # since when the client has not kept up
        self.fd = -1  # the socket, for the kernel's send queue (server.net.backlog)
        self.head_bytes = 0  # bytes of the HTTP request read so far
        self.api: PlainHttp | None = None  # reads an API request (/auth/...) instead of websockets
        self.input_seq = 0  # newest INPUT seq taken; older or equal ones are STALE_INPUT
        self.fragments: list[bytes] | None = None
        self.fragment_text = False
        # rate limiting
        self.rate_second = 0
        self.rate_count = 0
        self.flood_seconds = 0
        self.rate_warned = False
        self.errors: collections.deque[float] | None = None  # made on the first error
        # the player
        self.nid = 0
        self.player_id = ""
        self.name = ""
        self.resume_token = ""
        self.slot = -1  # row in state.viewers once playing
        self.keep_for_resume = True
        self.last_pos = (0.0, 0.0, 0.0)
        # Live money and armor (not in the world arrays): loaded at join, written by every
        # snapshot. A feature that changes money updates `money` first, then awaits
        # persistence.change_money(...), as server/persistence/service.py asks.
        self.money = 0
        self.armor = 0
        self.move_budget = 0.0  # metres this player may still move; refilled at PLAYER_MAX_SPEED
        self.budget_at = now
        self.ack = 0
        self.join_task: asyncio.Task[None] | None = None
        self.held: bytearray | None = None  # bytes read while a tick was due (see data_received)

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
        self.state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
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
        # The parser's exception (EOFError on a dropped socket) holds, through its traceback,
        # the parser's frame, which holds the protocol, which holds the exception: a cycle
        # that the collector would have to find, and never finds once frozen (TickLoop).
        self.ws.parser_exc = None
        self.leave_world()
        self.phase = Phase.CLOSED
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
            held += data
            if len(held) > self.state.config.max_message_size and self.transport is not None:
                self.transport.pause_reading()  # a flood waits in the kernel, not in memory
            return
        st = self.state
        if time.monotonic() >= st.tick_due:
            self.held = bytearray(data)
            st.held.append(self)
            st.metrics.held.inc()
            return
        self.receive(data)

    def release_held(self) -> None:
        """Handle what was held, or the loss of the connection (called by the tick loop)."""
        data, self.held = self.held, None
        if self.lost:
            self.finish_lost()
            return
        if data is None or self.transport is None:
            return
        if len(data) > self.state.config.max_message_size and not self.closing:
            self.transport.resume_reading()
        self.receive(bytes(data))

    def receive(self, data: bytes) -> None:
        # Nothing a client sends may raise out of here: the event loop would log a traceback
        # per connection (a flood of them is a denial of service on the log) and leave the
        # connection half alive.
        try:
            if self.phase is Phase.HTTP:
                if self.closing:
                    return  # answered (see _answer_http): the rest is not read
                first = self.head_bytes == 0
                self.head_bytes += len(data)
                if first or self.api is not None:
                    rest = self._plain_http(data)
                    if rest is None:
                        return  # an API request (server.net.api) took the bytes
                    data = rest
            elif (
                self.phase is Phase.PLAYING
                and not len(data) % INPUT_WIRE
                and self._at_frame_boundary()
            ):
                data = self._fast_inputs(data)
                if not data:
                    return
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

    def _at_frame_boundary(self) -> bool:
        """True when the sans-I/O parser holds no partial frame, so the next byte starts one."""
        ws = self.ws
        return (
            ws.state is State.OPEN
            and not ws.reader.buffer
            and ws.current_size is None
            and self.fragments is None
        )

    def _fast_inputs(self, data: bytes) -> bytes:
        """Decode whole masked INPUT frames directly: 20,000 of them a second arrive at a
        busy server, and this is a third of the cost of the general parser. Anything that is
        not exactly such a frame goes back to the parser, untouched. Returns what is left."""
        for off in range(0, len(data), INPUT_WIRE):
            if data[off] != 0x82 or data[off + 1] != 0x80 | INPUT_SIZE:
                return data[off:]
            if self.closing or self.phase is not Phase.PLAYING:
                return b""
            self._on_message(
                False, apply_mask(data[off + 6 : off + INPUT_WIRE], data[off + 2 : off + 6])
            )
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
                self.state, self.peer.rsplit(":", 1)[0], self._answer_api, self.deadline
            )
        rest = self.api.feed(data)
        if rest is not None:
            self.api = None
        return rest

    def _answer_api(self, data: bytes) -> None:
        if not self.lost and not self.closing:
            self._answer_http(data)

    def _on_request(self, request: Request, pipelined: bool = False) -> None:
        response = route(self.state, request)
        if response is None:
            response = self.ws.accept(request)
        if response.status_code != 101:
            self._answer_http(response.serialize())
            return
        self.ws.send_response(response)
        self.phase = Phase.HELLO
        # websockets' server parser keeps the handshake request (headers and all) alive in
        # its generator frame for the life of the connection; past the handshake it only
        # parses frames, which the base protocol's parser does holding nothing else.
        # Only when it waits at a frame boundary: nothing buffered, nothing parsed after.
        if not pipelined and not self.ws.reader.buffer:
            old = self.ws.parser
            self.ws.parser = Protocol.parse(self.ws)
            next(self.ws.parser)
            old.close()

    def _on_frame(self, frame: Frame) -> None:
        op = frame.opcode
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if frame.fin:
                self._on_message(op is Opcode.TEXT, bytes(frame.data))
            else:
                self.fragments = [bytes(frame.data)]
                self.fragment_text = op is Opcode.TEXT
        elif op is Opcode.CONT:
            if self.fragments is not None:
                self.fragments.append(bytes(frame.data))
                if frame.fin:
                    data = b"".join(self.fragments)
                    self.fragments = None
                    self._on_message(self.fragment_text, data)
        elif op is Opcode.PING:
            # websockets has already queued the pong; counting the ping makes a ping flood a
            # FLOODING close like any other, and CLIENT_SEND_QUEUE_MAX bounds the pongs.
            self._within_rate()
        elif op is Opcode.PONG:
            self.ping_out = None
        elif op is Opcode.CLOSE:
            self.keep_for_resume = (
                self.keep_for_resume
                and self.ws.close_rcvd is not None
                and (self.ws.close_rcvd.code != CloseCode.NORMAL)
            )

    def _on_message(self, is_text: bool, data: bytes) -> None:
        phase = self.phase
        if phase is Phase.PLAYING:
            if not self._within_rate():
                return
            try:
                if is_text:
                    self._on_control(control.decode_client(data))
                else:
                    self._on_input(decode_input(data))
            except ProtocolError as e:
                self.fail(e)
            return
        if phase is Phase.HELLO:
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
            self._begin_join(hello)
            return
        if phase is Phase.JOINING:
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

    def _within_rate(self) -> bool:
        cfg = self.state.config
        second = int(time.monotonic())
        if second != self.rate_second:
            over = self.rate_count > cfg.input_rate_limit
            self.flood_seconds = (
                self.flood_seconds + 1 if over and second == self.rate_second + 1 else 0
            )
            self.rate_second = second
            self.rate_count = 0
            self.rate_warned = False
        self.rate_count += 1
        if self.rate_count <= cfg.input_rate_limit:
            return True
        if self.flood_seconds + 1 >= cfg.flood_close_after:
            self.close(
                CloseCode.FLOODING,
                f"over {cfg.input_rate_limit} messages/s for {cfg.flood_close_after} s",
            )
            return False
        if not self.rate_warned:
            self.rate_warned = True
            self.fail(
                ProtocolError(
                    f"over {cfg.input_rate_limit} messages/s; dropped", error=ErrorCode.RATE_LIMITED
                )
            )
        return False

    # --- playing ---

    def _on_input(self, inp: InputFrame) -> None:
        if inp.seq <= self.input_seq:  # SPEC §9.2: a repeated or older INPUT changes nothing
            self.fail(
                ProtocolError(
                    f"INPUT seq {inp.seq} is not after {self.input_seq}",
                    error=ErrorCode.STALE_INPUT,
                ),
                ref=inp.seq,
            )
            return
        self.input_seq = inp.seq
        st = self.state
        self.ack = inp.ack
        b = st.world.bounds
        if not b.contains(inp.x, inp.y, inp.z):
            self._reject(inp, ErrorCode.OUT_OF_BOUNDS, "position outside the world")
            return
        cfg = st.config
        now = time.monotonic()
        cap = cfg.player_max_speed + MOVE_SLACK_M
        self.move_budget = min(
            cap, self.move_budget + (now - self.budget_at) * cfg.player_max_speed
        )
        self.budget_at = now
        lx, ly, lz = self.last_pos
        dist = math.sqrt((inp.x - lx) ** 2 + (inp.y - ly) ** 2 + (inp.z - lz) ** 2)
        if dist > self.move_budget + MOVE_SLACK_M:
            self._reject(
                inp,
                ErrorCode.IMPOSSIBLE_MOVE,
                f"moved {dist:.1f} m, faster than {cfg.player_max_speed:g} m/s",
            )
            return
        self.move_budget = max(0.0, self.move_budget - dist)
        self.last_pos = (inp.x, inp.y, inp.z)
        st.world.players.place(self.nid, inp.x, inp.y, inp.z, inp.heading)
        st.inputs += 1

    def _reject(self, inp: InputFrame, code: ErrorCode, message: str) -> None:
        self.fail(ProtocolError(message, error=code), ref=inp.seq)
        p = self.state.world.players
        nid = self.nid
        self.send(
            control.Correct(
                x=float(p.x[nid]),
                y=float(p.y[nid]),
                z=float(p.z[nid]),
                heading=float(p.heading[nid]),
                ref=inp.seq,
            )
        )

    def _on_control(self, msg: control.ClientMessage) -> None:
        st = self.state
        if isinstance(msg, control.Ping):
            self.send(control.Pong(id=msg.id, t=msg.t, server_time=time.time()))
        elif isinstance(msg, control.Chat):
            self._chat(msg.text)
        elif isinstance(msg, control.Talk):
            w = st.world
            npc = msg.npc
            if w.kind[npc] != EntityKind.NPC or not w.grid.sees(
                int(w.cell[self.nid]), int(w.cell[npc])
            ):
                self.fail(ProtocolError(f"no NPC {npc} in view", error=ErrorCode.UNKNOWN_ENTITY))
                return
            self.send(control.NpcSay(npc=npc, to=self.nid, text=offline_reply(npc, msg.text)))
        elif isinstance(msg, control.Who):
            self.send(who_reply(st.world, self.nid, msg.ids))
        elif isinstance(msg, control.Leave):
            self.close(CloseCode.NORMAL, "bye", keep_for_resume=False)
        elif isinstance(msg, control.Hello):
            self.fail(ProtocolError("already welcomed", error=ErrorCode.ALREADY_WELCOMED))

    def _chat(self, text: str) -> None:
        st = self.state
        w = st.world
        cell = int(w.cell[self.nid])
        data = control.encode(control.ChatMessage(from_id=self.nid, name=self.name, text=text))
        for conn in list(st.players.values()):
            if w.grid.sees(int(w.cell[conn.nid]), cell):
                conn.send_raw_text(data)

    # --- joining and leaving ---

    def _begin_join(self, hello: control.Hello) -> None:
        st = self.state
        if st.draining:
            self.close(CloseCode.SERVICE_RESTART, "server is restarting; try again shortly")
            return
        if st.player_count + st.joining >= st.config.max_players and not hello.resume:
            st.metrics.connections_refused.labels(reason="full").inc()
            self.close(CloseCode.SERVER_FULL, f"server full ({st.config.max_players} players)")
            return
        self.phase = Phase.JOINING
        st.joining += 1
        task = asyncio.get_running_loop().create_task(self._join(hello))
        task.add_done_callback(self._joined)
        self.join_task = task

    def _joined(self, task: asyncio.Task[None]) -> None:
        # A finished task keeps its coroutine: five objects per player for the collector.
        if self.join_task is task:
            self.join_task = None

    async def _join(self, hello: control.Hello) -> None:
        st = self.state
        cfg = st.config
        try:
            try:
                session = await st.persistence.take_session(hello.resume) if hello.resume else None
                name = session.name if session else hello.name
                record = await st.persistence.load_or_create_player(name)
            finally:
                st.joining -= 1
        except Exception:
            log.exception("join failed for %s", self.peer)
            self.close(CloseCode.INTERNAL_ERROR, "could not load the player")
            return
        if self.closing or self.phase is not Phase.JOINING:
            return
        if session is None and st.player_count >= cfg.max_players:
            self.close(CloseCode.SERVER_FULL, f"server full ({cfg.max_players} players)")
            return
        pid = record.player_id
        old = st.players.get(pid)
        if old is not None and old is not self:
            old.close(CloseCode.REPLACED, "this player connected again elsewhere")
        w = st.world
        now = time.time()
        reserved = st.reserved.pop(pid, None)
        if reserved is not None and reserved[1] >= now:
            nid = reserved[0]
        else:
            if reserved is not None:
                w.net_ids.release(reserved[0], w.tick)
            nid = w.net_ids.allocate(w.tick)
        data: dict[str, Any] = session.data if session else {}
        if "x" in data and w.bounds.contains(data["x"], data["y"], data["z"]):
            x, y, z, h = (
                float(data["x"]),
                float(data["y"]),
                float(data["z"]),
                float(data.get("heading", 0.0)),
            )
        elif record.has_position and w.bounds.contains(record.x, record.y, record.z):
            x, y, z, h = record.x, record.y, record.z, record.heading
        else:
            x0, y0, x1, y1 = w.npcs.area
            x, y, z, h = random.uniform(x0, x1), random.uniform(y0, y1), 0.0, random.uniform(0, 360)
        self.nid, self.player_id, self.name = nid, pid, record.name
        self.money, self.armor = record.money, record.armor
        self.last_pos = (x, y, z)
        self.budget_at = time.monotonic()
        self.move_budget = cfg.player_max_speed * 0.25  # a normal first step is not a teleport
        w.spawn_player(nid, record.name, x, y, z, h)
        w.players.health[nid] = max(0, min(255, record.health))
        self.slot = st.viewers.add(nid, self.send_state, nid % cfg.aoi_far_every, st.phase_of(nid))
        st.viewers.paused[self.slot] = self.paused_since is not None
        st.players[pid] = self
        self.phase = Phase.PLAYING
        self.resume_token = secrets.token_urlsafe(18)
        st.joined_since_gc += 1
        st.metrics.clients.set(st.player_count)
        self.send(
            control.Welcome(
                v=PROTOCOL_VERSION,
                player_id=pid,
                net_id=nid,
                name=record.name,
                server_name=cfg.server_name,
                tick_rate=cfg.tickrate,
                send_rate=cfg.send_rate,
                tick=w.tick,
                server_time=now,
                world=w.bounds.as_dict(),
                aoi_radius=cfg.aoi_radius,
                aoi_cell_size=cfg.aoi_cell_size,
                resume_token=self.resume_token,
                resume_window=cfg.resume_window,
                max_message_size=cfg.max_message_size,
                input_rate_limit=cfg.input_rate_limit,
                resumed=session is not None,
                x=x,
                y=y,
                z=z,
                heading=h,
                limits=welcome_limits(cfg),
            )
        )
        log.info(
            "%s joined as %r (net id %d%s) from %s",
            pid,
            record.name,
            nid,
            ", resumed" if session else "",
            self.peer,
        )
        # Without a position: if this server dies, a resume must restore the last snapshot
        # from the database, not the place where the player joined.
        await self.save_session(with_position=False)

    def snapshot(self) -> PlayerSnapshot:
        p = self.state.world.players
        n = self.nid
        return PlayerSnapshot(
            player_id=self.player_id,
            x=float(p.x[n]),
            y=float(p.y[n]),
            z=float(p.z[n]),
            heading=float(p.heading[n]),
            health=int(p.health[n]),
            armor=self.armor,
            money=self.money,
            taken_at=time.time(),
        )

    async def save_session(self, token: str | None = None, *, with_position: bool = True) -> None:
        """Store what a resume token unlocks, so a resume works on any instance. With the
        position (leaving, draining), a resume puts the player back exactly there."""
        if not self.player_id:
            return
        data: dict[str, Any] = {"net_id": self.nid}
        if with_position:
            snap = self.snapshot()
            data.update(x=snap.x, y=snap.y, z=snap.z, heading=snap.heading)
        try:
            await self.state.persistence.save_session(
                ResumeSession(
                    token=token or self.resume_token,
                    player_id=self.player_id,
                    name=self.name,
                    expires_at=time.time() + self.state.config.resume_window,
                    data=data,
                )
            )
        except Exception:
            log.warning("could not store the resume session of %s", self.player_id, exc_info=True)

    async def _forget_session(self, token: str) -> None:
        try:
            await self.state.persistence.take_session(token)
        except Exception:
            log.warning("could not delete the resume session of %s", self.player_id, exc_info=True)

    def leave_world(self) -> None:
        """Take the player out of the world; keep its net id for a resume unless it said leave."""
        if self.phase is not Phase.PLAYING:
            return
        st = self.state
        w = st.world
        self.phase = Phase.CLOSED  # out of the game; the socket may still be closing
        st.persistence.submit_snapshots([self.snapshot()])
        w.despawn_player(self.nid)
        st.viewers.remove(self.slot)
        self.slot = -1
        if st.players.get(self.player_id) is self:
            del st.players[self.player_id]
        if self.keep_for_resume and st.config.resume_window > 0:
            st.reserved[self.player_id] = (self.nid, time.time() + st.config.resume_window)
            asyncio.get_running_loop().create_task(self.save_session())
        else:
            w.net_ids.release(self.nid, w.tick)
            if self.resume_token:  # the token stored at welcome must not resume a player who left
                asyncio.get_running_loop().create_task(self._forget_session(self.resume_token))
        st.metrics.clients.set(st.player_count)
        log.info("%s (%r, net id %d) left", self.player_id, self.name, self.nid)

    # --- housekeeping, called about once a second off the tick ---

    def housekeep(self, now: float) -> None:
        cfg = self.state.config
        if self.closing or self.phase is Phase.CLOSED:
            return
        if self.phase in (Phase.HTTP, Phase.HELLO) and now > self.deadline:
            if self.phase is Phase.HTTP:
                self.abort()
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
