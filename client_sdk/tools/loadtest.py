"""`ganggpt-loadtest`: N bot players against one server, with honest numbers at the end.

Each bot random-walks at --speed m/s inside the spawn square, sends its INPUT --input-rate
times a second (acknowledging the last STATE frame), and counts what it receives. At the end:
a table and ONE JSON line, last on stdout, for scripts (client_sdk.tools.bench reads it).
The exit status is 1 when any bot failed to join (refused, full, timed out): a load test
that ran with fewer bots than asked measured something else.

Why it looks the way it does -- it must drive 1,000 bots from one process on one core and not
be the bottleneck it measures:
- Bots use the websockets protocol machinery but not its message queue: a connection
  subclass handles each frame synchronously as it is parsed (no task, future or await per
  frame), and a bot only reads the 18-byte STATE header and the LEAVE/ENTER counts
  (`--mirror` decodes everything into a `protocol.mirror.Mirror` instead).
- A talker keeps the NPCs in view with `client_sdk.tools.npc_tracker.NpcTracker`, not a full
  mirror: it reads the LEAVE, ENTER and PATH sections (nearly always empty), never the MOVE
  records that are most of a frame, and places NPCs on their paths at the estimated server
  tick, as the mirror does. (A full mirror per talker was once the tool's largest cost, and
  the lag it caused was measured as the server's reply time.)
- One shared ticker sends every bot's inputs, the bots spread over its phases, instead of
  1,000 sleeping tasks; an INPUT is one `struct.pack` of the protocol's own layout.
- Latency samples go to one flat list folded into a fixed 0.1 ms histogram twice a second,
  so memory does not grow with the run's length.

Definitions (also in the JSON): the measured window starts --warmup seconds after the last bot
joined and lasts --duration seconds. patch ratio of a bot = STATE frames received in the
window / (send_rate x seconds it was connected in the window). kB/s are WebSocket payload
bytes / 1000. Latency = local receive time - the frame's server_time (start of the tick
that produced it): meaningful when client and server share a clock (same machine).
Talkers (--talk-share) talk to the NPC nearest them every ~--talk-every seconds, never while
their last talk still waits for its reply (a new talk would cancel it); `talk` in the JSON
counts the talks sent in the window as replied, missing (no `npc_say` within --talk-timeout)
or unfinished (the run ended first), with the times to the first `npc_say_part` and to the
`npc_say`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import os
import random
import resource
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from client_sdk.tools import TOOLS_MSG, tool_version

try:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
except ImportError as missing:  # the SDK a game client installs does not carry the tools' deps
    raise SystemExit(f"ganggpt-loadtest {TOOLS_MSG}") from missing
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

from client_sdk.tools.npc_tracker import NpcTracker
from protocol.catalogue import PROTOCOL_VERSION, FrameType
from protocol.control import Hello, Leave, Talk, encode
from protocol.mirror import Mirror, Npc, close_code_name
from protocol.state import HEADER, INPUT, U16

DEFAULT_URL = "ws://127.0.0.1:22005/ws"
LAT_RES = 10_000  # histogram buckets per second (0.1 ms)
LAT_MAX = 5 * LAT_RES  # 5 s; slower samples land in the last bucket
TICKER_HZ = 200.0  # the shared input ticker's target rate (bots spread over its phases)
_STATE = FrameType.STATE
_INPUT = FrameType.INPUT
_HDR = HEADER.unpack_from
_U16 = U16.unpack_from
_HDR_SIZE = HEADER.size
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_OPEN = State.OPEN
_LEAVE = encode(Leave())
Buffer = bytes | bytearray | memoryview
_INPUT_FRAME_HEAD = bytes((0x82, 0x80 | INPUT.size))  # FIN + binary; masked, 25-byte payload
assert INPUT.size < 126
_FAST_MAX = 1 << 22  # larger frames go to websockets' parser (which enforces max_size)


# --- measurement ------------------------------------------------------------------------------


class Latency:
    """Receive-minus-server-time samples: appended raw, folded into a fixed histogram."""

    def __init__(self) -> None:
        self.recent: list[float] = []
        self.hist = [0] * (LAT_MAX + 1)
        self.count = 0
        self.measuring = False

    def fold(self) -> list[float]:
        """Move recent samples into the histogram (if measuring); return them sorted."""
        batch = self.recent
        self.recent = []
        if self.measuring:
            hist = self.hist
            for s in batch:
                i = int(s * LAT_RES)
                hist[0 if i < 0 else (i if i < LAT_MAX else LAT_MAX)] += 1
            self.count += len(batch)
        batch.sort()
        return batch

    def percentile(self, q: float) -> float | None:
        """q-th percentile in ms (bucket resolution 0.1 ms; upper edge of the bucket)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        acc = 0
        for i, c in enumerate(self.hist):
            acc += c
            if acc >= rank:
                return (i + 1) * 1000.0 / LAT_RES
        return LAT_MAX * 1000.0 / LAT_RES


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of unsorted values (None if empty)."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100.0 * len(s)) - 1))]


# --- bots -------------------------------------------------------------------------------------


class BotConnection(ClientConnection):
    """websockets client connection that hands frames to its bot as they arrive.

    Two receive paths. The fast one (after `attach`): complete, unmasked, unfragmented data
    frames from the server are cut out of the TCP stream here and given to the bot without
    building Frame objects; pings are answered through the websockets protocol. The first
    frame it does not handle (close, fragments, anything odd) switches the connection to
    websockets' own parser for good, fed from that frame on -- websockets has seen nothing
    since the handshake, so its parser is exactly at that frame boundary. The slow path is
    also the fallback if websockets buffered bytes past the handshake when we attach.
    """

    bot: Bot | None = None
    _fast = False
    _buf: bytes = b""

    def attach(self, bot: Bot, fast: bool = True) -> None:
        self.bot = bot
        reader = getattr(self.protocol, "reader", None)
        pending = len(getattr(reader, "buffer", b"")) if reader is not None else 1
        self._fast = fast and pending == 0 and self.protocol.state is _OPEN

    def data_received(self, data: bytes) -> None:
        if not self._fast:
            super().data_received(data)
            return
        bot = self.bot
        assert bot is not None
        buf = self._buf + data if self._buf else data
        n = len(buf)
        off = 0
        while n - off >= 2:
            b0 = buf[off]
            b1 = buf[off + 1]
            ln = b1 & 0x7F
            h = 2
            if ln == 126:
                if n - off < 4:
                    break
                ln = (buf[off + 2] << 8) | buf[off + 3]
                h = 4
            elif ln == 127:
                if n - off < 10:
                    break
                ln = int.from_bytes(buf[off + 2 : off + 10], "big")
                h = 10
            op = b0 & 0x0F
            # FIN set, no RSV bits, not masked, a data frame or a ping, of a sane size:
            if (b0 & 0xF0) != 0x80 or b1 & 0x80 or op not in (1, 2, 9) or ln > _FAST_MAX:
                self._fast = False
                self._buf = b""
                super().data_received(buf[off:])
                return
            end = off + h + ln
            if end > n:
                break
            if op == 2:
                bot.on_binary_at(buf, off + h, end)
            elif op == 1:
                bot.on_text(buf[off + h : end])
            else:
                self.protocol.send_pong(buf[off + h : end])
                self.send_data()
            off = end
        self._buf = buf[off:] if off < n else b""

    def process_event(self, event: Any) -> None:
        bot = self.bot
        if bot is None or self.response is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        op = event.opcode
        if op is _BINARY:
            bot.on_binary(event.data)
        elif op is _TEXT:
            bot.on_text(event.data)
        else:
            super().process_event(event)  # PONG acknowledgements

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.bot is not None:
            self.bot.on_closed(self.close_code, self.close_reason or "")


@dataclass(eq=False, slots=True)
class Bot:
    run: LoadTest
    idx: int
    name: str
    talker: bool
    mirror: Mirror | None = None
    npcs: NpcTracker | None = None  # a talker's NPCs in view (when it keeps no full mirror)
    conn: BotConnection | None = None
    welcomed: asyncio.Future[None] | None = None
    active: bool = False
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    heading: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    turn_at: float = 0.0
    last_step: float = 0.0
    seq: int = 0
    last_seq: int = 0
    send_rate: int = 30
    frames: int = 0
    nbytes: int = 0
    enters: int = 0
    leaves: int = 0
    errors: int = 0
    corrections: int = 0
    # window bookkeeping
    connected_at: float | None = None
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str = ""
    frames0: int = 0
    bytes0: int = 0
    frames1: int = 0
    bytes1: int = 0
    t0: float | None = None
    # talkers
    talk_at: float = 0.0
    talk_sent: dict[int, float] = field(default_factory=dict)
    pending: TalkRecord | None = None  # the talk still waiting for its npc_say

    # --- receive path (called synchronously by the connection) --------------------------

    def on_binary(self, data: Buffer) -> None:
        self.on_binary_at(data, 0, len(data))

    def on_binary_at(self, data: Buffer, start: int, end: int) -> None:
        """One STATE frame, `data[start:end]`: count it, its bytes, latency, LEAVE/ENTER;
        a talker also tracks the NPCs in it."""
        now = time.time()
        size = end - start
        if size < _HDR_SIZE + 4 or data[start] != _STATE:
            if size and data[start] != _STATE:
                return  # a binary type this tool does not know: ignored, as SPEC says
            self.run.bad_frames += 1
            return
        _, _flags, seq, _tick, server_time = _HDR(data, start)
        self.frames += 1
        self.nbytes += size
        self.last_seq = seq
        self.run.latency.recent.append(now - server_time)
        (nl,) = _U16(data, start + _HDR_SIZE)
        self.leaves += nl
        off = start + _HDR_SIZE + 2 + 2 * nl
        if off + 2 <= end:
            self.enters += _U16(data, off)[0]
        if self.npcs is not None:
            self.npcs.feed(data, start, end, now)
        elif self.mirror is not None:
            self.mirror.receive(bytes(data[start:end]), now)

    def on_text(self, data: Buffer) -> None:
        try:
            msg = orjson.loads(data)
            op = msg["op"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.run.bad_frames += 1
            return
        if self.mirror is not None:
            self.mirror.receive(bytes(data).decode("utf-8", "replace"), time.time())
        if op == "welcome":
            self._welcome(msg)
        elif op == "error":
            self.errors += 1
            self.run.error_codes[str(msg.get("name", msg.get("code")))] += 1
        elif op == "correct":
            self.corrections += 1
            self.x, self.y, self.z = float(msg["x"]), float(msg["y"]), float(msg["z"])
        elif op == "npc_say_part":
            p = self.pending
            if p is not None and p.first_part is None and p.npc == msg.get("npc"):
                p.first_part = time.monotonic()
        elif op == "npc_say":
            t = self.talk_sent.pop(int(msg.get("npc", -1)), None)
            if t is not None:
                self.run.talk_rtts.append(time.monotonic() - t)
            self.run.npc_replies += 1
            p = self.pending
            if p is not None and p.npc == msg.get("npc"):
                p.reply = time.monotonic()
                p.actions = len(msg.get("actions") or ())
                self.pending = None
        elif op == "reconnect":
            self.run.reconnect_notices += 1

    def _welcome(self, w: dict[str, Any]) -> None:
        self.x, self.y, self.z = float(w["x"]), float(w["y"]), float(w["z"])
        self.heading = float(w["heading"])
        self.send_rate = int(w["send_rate"])
        if self.npcs is not None:
            self.npcs.welcome(w, time.time())
        self.run.learn_world(w)
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_result(None)

    def on_closed(self, code: int | None, reason: str) -> None:
        was_active = self.active
        self.active = False
        self.closed_at = time.monotonic()
        self.close_code, self.close_reason = code, reason
        if self.welcomed is not None and not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"closed {close_code_name(code)} {reason}"))
        if was_active and not self.run.stopping:
            self.run.disconnects[close_code_name(code)] += 1

    # --- send path (called by the shared ticker) ---------------------------------------------

    def step(self, now: float, rng: random.Random) -> None:
        """Advance the random walk to `now` and send one INPUT with the latest ack."""
        conn = self.conn
        if conn is None:
            return
        run = self.run
        dt = now - self.last_step
        self.last_step = now
        if dt > 0.5:
            dt = 0.5  # after a stall, do not jump further than the server would accept
        if now >= self.turn_at:
            self._turn(now, rng)
        x = self.x + self.dx * dt
        y = self.y + self.dy * dt
        lo_x, lo_y, hi_x, hi_y = run.area
        if x < lo_x:
            x, self.dx = lo_x + (lo_x - x), abs(self.dx)
        elif x > hi_x:
            x, self.dx = hi_x - (x - hi_x), -abs(self.dx)
        if y < lo_y:
            y, self.dy = lo_y + (lo_y - y), abs(self.dy)
        elif y > hi_y:
            y, self.dy = hi_y - (y - hi_y), -abs(self.dy)
        self.x, self.y = x, y
        self.heading = math.degrees(math.atan2(-self.dx, self.dy)) % 360.0
        proto = conn.protocol
        if proto.state is not _OPEN:
            return
        if conn.transport.get_write_buffer_size() > 65536:
            run.send_skipped += 1  # the server is not reading us; do not pile up
            return
        self.seq += 1
        # One masked binary frame, built here: same bytes websockets would send, at a third
        # of the cost (no Frame object, no output queue).
        mask = os.urandom(4)
        payload = INPUT.pack(_INPUT, self.seq, self.last_seq, x, y, self.z, self.heading)
        conn.transport.write(_INPUT_FRAME_HEAD + mask + apply_mask(payload, mask))
        run.inputs_sent += 1
        if self.talker and now >= self.talk_at:
            self._talk(now, rng)

    def _nearest_npc(self, now: float) -> int | None:
        if self.npcs is not None:
            return self.npcs.nearest(self.x, self.y, now)
        m = self.mirror
        if m is None or m.welcome is None:
            return None
        tick = m.estimate_tick(now)
        best: tuple[float, int] | None = None
        for e in m.entities.values():
            if isinstance(e, Npc):
                nx, ny, _ = m.npc_position(e, tick)
                d = (nx - self.x) ** 2 + (ny - self.y) ** 2
                if best is None or d < best[0]:
                    best = (d, e.net_id)
        return None if best is None else best[1]

    def _turn(self, now: float, rng: random.Random) -> None:
        a = rng.uniform(0.0, 2.0 * math.pi)
        speed = self.run.speed
        self.dx, self.dy = math.cos(a) * speed, math.sin(a) * speed
        lo_x, lo_y, hi_x, hi_y = self.run.area
        # Outside the area (spawned elsewhere): head for its centre instead.
        if not (lo_x <= self.x <= hi_x and lo_y <= self.y <= hi_y):
            cx, cy = (lo_x + hi_x) / 2, (lo_y + hi_y) / 2
            d = math.hypot(cx - self.x, cy - self.y) or 1.0
            self.dx, self.dy = (cx - self.x) / d * speed, (cy - self.y) / d * speed
        self.turn_at = now + rng.uniform(self.run.turn_min, self.run.turn_max)

    def _talk(self, now: float, rng: random.Random) -> None:
        """Say something to the nearest visible NPC (from the talker's NPC tracker, or its
        full mirror with --mirror). Not while the last talk waits for its reply (a new talk
        would cancel it), unless it waited longer than --talk-timeout: then it stays counted
        as missing."""
        self.talk_at = now + rng.uniform(0.5, 1.5) * self.run.talk_every
        p = self.pending
        if p is not None and time.monotonic() - p.sent < self.run.o.talk_timeout:
            return
        conn = self.conn
        if conn is None:
            return
        npc = self._nearest_npc(time.time())
        if npc is None:
            return
        conn.protocol.send_text(encode(Talk(npc=npc, text="Hey, what's going on around here?")))
        conn.send_data()
        self.talk_sent[npc] = time.monotonic()
        self.run.talks_sent += 1
        self.pending = TalkRecord(npc, self.talk_sent[npc])
        self.run.talk_log.append(self.pending)


@dataclass(slots=True)
class TalkRecord:
    """One talk of a talker: when it was sent, its first streamed part, its npc_say."""

    npc: int
    sent: float
    first_part: float | None = None
    reply: float | None = None
    actions: int = 0


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Options:
    url: str = DEFAULT_URL
    bots: int = 100
    duration: float = 30.0
    warmup: float = 1.0
    linger: float = 0.0
    ramp: float = 200.0
    connect_timeout: float = 15.0
    input_rate: float = 20.0
    speed: float = 6.0
    area: float = 2000.0
    turn_min: float = 2.0
    turn_max: float = 5.0
    talk_share: float = 0.0
    talk_every: float = 10.0
    talk_timeout: float = 20.0
    mirror: bool = False
    idle: bool = False
    name_prefix: str = "bot"
    seed: int = 1
    progress: str = "auto"
    token: str | None = None
    markers: bool = False
    slow_path: bool = False


class LoadTest:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.speed = opts.speed
        self.turn_min, self.turn_max = opts.turn_min, opts.turn_max
        self.talk_every = opts.talk_every
        self.rng = random.Random(opts.seed)
        self.bots: list[Bot] = []
        self.latency = Latency()
        self.area = (-opts.area / 2, -opts.area / 2, opts.area / 2, opts.area / 2)
        self._world_known = False
        self.error_codes: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.bad_frames = 0
        self.inputs_sent = 0
        self.send_skipped = 0
        self.talks_sent = 0
        self.npc_replies = 0
        self.talk_rtts: list[float] = []
        self.talk_log: list[TalkRecord] = []
        self.reconnect_notices = 0
        self.stopping = False
        self.phase = "connecting"
        self.started = time.monotonic()
        self.window: tuple[float, float] | None = None
        self.cpu_window: tuple[float, float] | None = None
        # shared input ticker
        self._phases = 1
        self._buckets: list[list[Bot]] = [[]]
        self._ticker: asyncio.Handle | None = None
        self._tick_k = 0
        self._tick_t0 = 0.0
        self._tick_dt = 0.05
        self._enter0 = self._leave0 = 0
        self.loop_lags: list[float] = []
        self.enters_in_window = self.leaves_in_window = 0

    def learn_world(self, w: dict[str, Any]) -> None:
        """The walk area: the --area square at the world's centre, inside the world."""
        if self._world_known:
            return
        self._world_known = True
        b = w.get("world") or {}
        try:
            lo_x, hi_x = float(b["min_x"]), float(b["max_x"])
            lo_y, hi_y = float(b["min_y"]), float(b["max_y"])
        except (KeyError, TypeError, ValueError):
            return
        cx, cy, half = (lo_x + hi_x) / 2, (lo_y + hi_y) / 2, self.o.area / 2
        self.area = (
            max(lo_x + 1, cx - half),
            max(lo_y + 1, cy - half),
            min(hi_x - 1, cx + half),
            min(hi_y - 1, cy + half),
        )

    # --- connecting ---------------------------------------------------------------------------

    async def connect_bot(self, bot: Bot) -> None:
        loop = asyncio.get_running_loop()
        bot.welcomed = loop.create_future()
        try:
            conn = await ws_connect(
                self.o.url,
                compression=None,
                proxy=None,
                open_timeout=self.o.connect_timeout,
                ping_interval=None,  # the server pings; the protocol answers by itself
                close_timeout=2.0,
                max_size=1 << 22,
                user_agent_header="ganggpt-loadtest",
                create_connection=BotConnection,
            )
        except Exception as e:
            self.connect_failures[type(e).__name__] += 1
            return
        assert isinstance(conn, BotConnection)
        conn.attach(bot, fast=not self.o.slow_path)
        bot.conn = conn
        hello = Hello(v=PROTOCOL_VERSION, name=bot.name, token=self.o.token)
        try:
            conn.protocol.send_text(encode(hello))
            conn.send_data()
            await asyncio.wait_for(bot.welcomed, self.o.connect_timeout)
        except Exception as e:
            name = type(e).__name__
            if bot.close_code is not None:
                name = close_code_name(bot.close_code)
            self.connect_failures[name] += 1
            conn.transport.abort()
            return
        now = loop.time()
        bot.connected_at = time.monotonic()
        bot.last_step = now
        bot.turn_at = 0.0
        bot.talk_at = now + self.rng.uniform(1.0, self.talk_every)
        bot.active = True
        if not self.o.idle:
            self._buckets[bot.idx % self._phases].append(bot)

    async def ramp(self) -> None:
        o = self.o
        n_talk = round(o.bots * o.talk_share)
        for i in range(o.bots):
            talker = i < n_talk
            bot = Bot(self, i, f"{o.name_prefix}{i}"[:32], talker)
            if o.mirror:
                bot.mirror = Mirror(name=bot.name)
            elif talker:
                bot.npcs = NpcTracker()
            self.bots.append(bot)
        tasks: list[asyncio.Task[None]] = []
        t0 = time.monotonic()
        for i, bot in enumerate(self.bots):
            due = t0 + i / o.ramp
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.connect_bot(bot)))
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- shared ticker ------------------------------------------------------------------------

    def start_ticker(self) -> None:
        rate = max(0.1, self.o.input_rate)
        self._phases = max(1, round(TICKER_HZ / rate))
        self._tick_dt = 1.0 / (rate * self._phases)
        self._buckets = [[] for _ in range(self._phases)]
        loop = asyncio.get_running_loop()
        self._tick_t0 = loop.time()
        self._tick_k = 0
        self._ticker = loop.call_soon(self._tick)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.latency.measuring:  # how late this callback ran: the load tool's own lag
            self.loop_lags.append(now - (self._tick_t0 + self._tick_k * self._tick_dt))
        bucket = self._buckets[self._tick_k % self._phases]
        rng = self.rng
        alive = False
        for bot in bucket:
            if bot.active:
                bot.step(now, rng)
            else:
                alive = True  # prune below
        if alive:
            bucket[:] = [b for b in bucket if b.active]
        self._tick_k += 1
        nxt = self._tick_t0 + self._tick_k * self._tick_dt
        if nxt < now - 1.0:  # far behind (loop stalled): skip ahead instead of bursting
            self._tick_k = int((now - self._tick_t0) / self._tick_dt) + 1
            nxt = self._tick_t0 + self._tick_k * self._tick_dt
        if not self.stopping:
            self._ticker = loop.call_at(nxt, self._tick)

    # --- window -------------------------------------------------------------------------------

    def open_window(self) -> None:
        now = time.monotonic()
        for b in self.bots:
            b.frames0, b.bytes0 = b.frames, b.nbytes
            b.t0 = now if b.active else None
        self.latency.fold()
        self.latency.measuring = True
        self.window = (now, now)
        self.cpu_window = (time.process_time(), 0.0)
        self._enter0 = sum(b.enters for b in self.bots)
        self._leave0 = sum(b.leaves for b in self.bots)

    def close_window(self) -> None:
        now = time.monotonic()
        assert self.window is not None and self.cpu_window is not None
        self.window = (self.window[0], now)
        self.cpu_window = (self.cpu_window[0], time.process_time())
        self.latency.fold()
        self.latency.measuring = False
        for b in self.bots:
            b.frames1, b.bytes1 = b.frames, b.nbytes
            if b.t0 is not None and b.active:
                b.closed_at = now  # the window ends here for bots still connected
        self.enters_in_window = sum(b.enters for b in self.bots) - self._enter0
        self.leaves_in_window = sum(b.leaves for b in self.bots) - self._leave0

    def results(self) -> dict[str, Any]:
        assert self.window is not None and self.cpu_window is not None
        w0, w1 = self.window
        secs = max(1e-9, w1 - w0)
        ratios: list[float] = []
        rates: list[float] = []
        kbps: list[float] = []
        for b in self.bots:
            if b.t0 is None or b.closed_at is None:
                continue
            alive = min(b.closed_at, w1) - b.t0
            if alive < 0.5:
                continue
            got = b.frames1 - b.frames0
            rates.append(got / alive)
            ratios.append(got / (b.send_rate * alive))
            kbps.append((b.bytes1 - b.bytes0) / alive / 1000.0)
        frames = sum(b.frames1 - b.frames0 for b in self.bots if b.t0 is not None)
        nbytes = sum(b.bytes1 - b.bytes0 for b in self.bots if b.t0 is not None)
        lat = self.latency

        def r(v: float | None, nd: int = 2) -> float | None:
            return None if v is None else round(v, nd)

        return {
            "url": self.o.url,
            "bots": self.o.bots,
            "connected": sum(1 for b in self.bots if b.connected_at is not None),
            "connect_failures": sum(self.connect_failures.values()),
            "connect_failure_reasons": dict(self.connect_failures),
            "disconnects": sum(self.disconnects.values()),
            "disconnect_codes": dict(self.disconnects),
            "window_s": round(secs, 2),
            "patches_per_s": {"median": r(percentile(rates, 50)), "p5": r(percentile(rates, 5))},
            "patch_ratio_p5": r(percentile(ratios, 5), 4),
            "patch_ratio_median": r(percentile(ratios, 50), 4),
            "kbps": {"median": r(percentile(kbps, 50), 3), "p95": r(percentile(kbps, 95), 3)},
            "latency_ms": {
                "p50": r(lat.percentile(50)),
                "p99": r(lat.percentile(99)),
                "samples": lat.count,
            },
            "frames_per_s": round(frames / secs, 1),
            "kbytes_per_s": round(nbytes / secs / 1000.0, 1),
            "errors": sum(b.errors for b in self.bots) + self.bad_frames,
            "error_names": dict(self.error_codes),
            "bad_frames": self.bad_frames,
            "corrections": sum(b.corrections for b in self.bots),
            "enters": self.enters_in_window,
            "leaves": self.leaves_in_window,
            "inputs_sent": self.inputs_sent,
            "inputs_skipped": self.send_skipped,
            "talks_sent": self.talks_sent,
            "npc_replies": self.npc_replies,
            "talk_reply_ms_p50": r(
                None if not self.talk_rtts else 1000 * (percentile(self.talk_rtts, 50) or 0.0)
            ),
            "talk": self.talk_results(),
            "reconnect_notices": self.reconnect_notices,
            "loadtest_cpu_pct": round(100.0 * (self.cpu_window[1] - self.cpu_window[0]) / secs, 1),
            # If the load tool's own loop lags, its latency figures include that lag.
            "loadtest_loop_lag_ms": {
                "p50": r(1000 * (percentile(self.loop_lags, 50) or 0.0)),
                "p99": r(1000 * (percentile(self.loop_lags, 99) or 0.0)),
            },
            "kb": 1000,
        }

    def talk_results(self) -> dict[str, Any]:
        """The talks sent in the window: replied (an npc_say came), missing (none within
        --talk-timeout), unfinished (the run ended less than --talk-timeout after it was
        sent, still waiting: neither), and how long replies took, from the talk to the first
        streamed part (`npc_say_part`) and to the whole reply (`npc_say`)."""
        assert self.window is not None
        w0, w1 = self.window
        end = time.monotonic()
        talks = [t for t in self.talk_log if w0 <= t.sent <= w1]
        replied = [t for t in talks if t.reply is not None]
        waiting = [t for t in talks if t.reply is None]
        missing = sum(1 for t in waiting if end - t.sent >= self.o.talk_timeout)
        first = [t.first_part - t.sent for t in replied if t.first_part is not None]
        whole = [t.reply - t.sent for t in replied if t.reply is not None]

        def ms(v: list[float], q: float) -> float | None:
            got = percentile(v, q)
            return None if got is None else round(1000 * got, 1)

        return {
            "sent": len(talks),
            "replied": len(replied),
            "missing": missing,
            "unfinished": len(waiting) - missing,
            "with_actions": sum(1 for t in replied if t.actions),
            "first_part_ms": {"p50": ms(first, 50), "p99": ms(first, 99), "n": len(first)},
            "reply_ms": {
                "p50": ms(whole, 50),
                "p99": ms(whole, 99),
                "max": ms(whole, 100),
                "n": len(whole),
            },
        }

    # --- progress -----------------------------------------------------------------------------

    def snapshot_line(
        self, dt: float, frames: int, nbytes: int, lat: list[float]
    ) -> dict[str, Any]:
        p50 = lat[len(lat) // 2] * 1000 if lat else None
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None
        return {
            "phase": self.phase,
            "elapsed": time.monotonic() - self.started,
            "connected": sum(1 for b in self.bots if b.active),
            "target": self.o.bots,
            "failed": sum(self.connect_failures.values()),
            "disconnects": sum(self.disconnects.values()),
            "fps": frames / dt if dt > 0 else 0.0,
            "kBps": nbytes / dt / 1000 if dt > 0 else 0.0,
            "p50": p50,
            "p99": p99,
            "errors": sum(b.errors for b in self.bots) + self.bad_frames,
        }


def _live_table(s: dict[str, Any]) -> Table:
    t = Table(title=f"ganggpt-loadtest: {s['phase']} ({s['elapsed']:.0f} s)", expand=False)
    for col in ("connected", "frames/s", "kB/s", "lat p50 ms", "lat p99 ms", "errors", "disc."):
        t.add_column(col, justify="right")
    t.add_row(
        f"{s['connected']}/{s['target']}" + (f" ({s['failed']} failed)" if s["failed"] else ""),
        f"{s['fps']:.0f}",
        f"{s['kBps']:.1f}",
        "-" if s["p50"] is None else f"{s['p50']:.1f}",
        "-" if s["p99"] is None else f"{s['p99']:.1f}",
        str(s["errors"]),
        str(s["disconnects"]),
    )
    return t


def _plain_line(s: dict[str, Any]) -> str:
    p50 = "-" if s["p50"] is None else f"{s['p50']:.1f}"
    p99 = "-" if s["p99"] is None else f"{s['p99']:.1f}"
    return (
        f"[{s['elapsed']:6.1f}s {s['phase']}] connected {s['connected']}/{s['target']} "
        f"failed {s['failed']} frames/s {s['fps']:.0f} kB/s {s['kBps']:.1f} "
        f"latency p50/p99 {p50}/{p99} ms errors {s['errors']} disconnects {s['disconnects']}"
    )


async def _progress(lt: LoadTest, mode: str, stop: asyncio.Event) -> None:
    """Refresh the live view ~2x/s (and fold latency samples) until `stop` is set."""
    err = Console(stderr=True)
    live: Live | None = None
    if mode == "live":
        live = Live(console=err, auto_refresh=False, transient=False)
        live.start()
    last_t = time.monotonic()
    last_f = last_b = 0
    last_print = 0.0
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            now = time.monotonic()
            frames = sum(b.frames for b in lt.bots)
            nbytes = sum(b.nbytes for b in lt.bots)
            lat = lt.latency.fold()
            s = lt.snapshot_line(now - last_t, frames - last_f, nbytes - last_b, lat)
            last_t, last_f, last_b = now, frames, nbytes
            if live is not None:
                live.update(_live_table(s), refresh=True)
            elif mode == "plain" and now - last_print >= 5.0:
                last_print = now
                print(_plain_line(s), file=sys.stderr, flush=True)
    finally:
        if live is not None:
            live.stop()


async def run_loadtest(opts: Options) -> dict[str, Any]:
    """Ramp up, warm up, measure for `duration` seconds, leave; return the results dict."""
    raise_nofile(opts.bots + 256)
    lt = LoadTest(opts)
    mode = opts.progress
    if mode == "auto":
        mode = "live" if sys.stderr.isatty() else "plain"
    stop = asyncio.Event()
    prog = asyncio.create_task(_progress(lt, mode, stop))
    # Ctrl-C (or SIGTERM) ends the run early but still leaves cleanly and reports.
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupted.set)

    async def until_interrupted(aw: Awaitable[Any], seconds: float | None = None) -> None:
        task = asyncio.ensure_future(aw)
        intr = asyncio.ensure_future(interrupted.wait())
        try:
            await asyncio.wait({task, intr}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            intr.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    try:
        lt.start_ticker()
        lt.phase = "connecting"
        await until_interrupted(lt.ramp())
        lt.phase = "warm-up"
        await until_interrupted(asyncio.sleep(opts.warmup))
        lt.phase = "measuring"
        lt.open_window()
        _marker(opts, "window-open")
        await until_interrupted(asyncio.sleep(opts.duration))
        lt.close_window()
        _marker(opts, "window-close")
        # Keep walking a moment, so a harness's closing scrape of the server sees the steady
        # state and not the start of 1,000 bots leaving at once.
        await until_interrupted(asyncio.sleep(opts.linger))
        lt.phase = "leaving"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        lt.stopping = True
        if lt._ticker is not None:
            lt._ticker.cancel()
        await _leave_all(lt)
        stop.set()
        await prog
    res = lt.results()
    res["interrupted"] = interrupted.is_set()
    return res


def _marker(opts: Options, what: str) -> None:
    """A machine-readable line on stderr, so a harness can scrape the server at the same
    moments the window opens and closes (client_sdk.tools.bench does)."""
    if opts.markers:
        print(f"@@{what} {time.time():.3f}", file=sys.stderr, flush=True)


async def _leave_all(lt: LoadTest, timeout: float = 5.0) -> None:
    """Say `leave` on every socket (the server then closes it), abort stragglers."""
    for b in lt.bots:
        c = b.conn
        if c is not None and c.protocol.state is _OPEN:
            with contextlib.suppress(Exception):
                c.protocol.send_text(_LEAVE)
                c.send_data()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(b.conn is None or b.conn.state is State.CLOSED for b in lt.bots):
            return
        await asyncio.sleep(0.05)
    for b in lt.bots:
        if b.conn is not None and b.conn.state is not State.CLOSED:
            b.conn.transport.abort()


def raise_nofile(want: int) -> int:
    """Raise the soft open-files limit towards `want` (up to the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


# --- command line -------------------------------------------------------------------------------


def check_url(url: str, explicit: bool) -> str:
    """Only ws:// or wss:// URLs; a non-loopback host only when the user typed the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise SystemExit(f"ganggpt-loadtest: URL must start with ws:// or wss://, got {url!r}")
    host = parts.hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback and not explicit:
        raise SystemExit("ganggpt-loadtest: refusing a non-loopback host that was not given")
    return url


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganggpt-loadtest",
        description="Spawn N bot players against a GangGPT server and measure what they get: "
        "patch rate and ratio, bandwidth, update latency, errors, disconnects. Live progress "
        "goes to stderr; a summary table and one JSON line (last) go to stdout. "
        "Exits 1 when any bot failed to join.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    p.add_argument("url", nargs="?", help=f"server WebSocket URL (default {DEFAULT_URL})")
    p.add_argument("-n", "--bots", type=int, default=100, help="number of bots (default 100)")
    p.add_argument(
        "--duration",
        type=float,
        default=30.0,
        help="seconds measured after every bot joined and --warmup passed (default 30)",
    )
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring (1)")
    p.add_argument(
        "--linger", type=float, default=0.0, help="seconds the bots keep going after the window (0)"
    )
    p.add_argument("--ramp", type=float, default=200.0, help="new connections per second (200)")
    p.add_argument(
        "--connect-timeout", type=float, default=15.0, help="seconds for one bot to be welcomed"
    )
    p.add_argument("--input-rate", type=float, default=20.0, help="INPUTs per bot per second")
    p.add_argument("--speed", type=float, default=6.0, help="walking speed, m/s (6)")
    p.add_argument(
        "--area",
        type=float,
        default=2000.0,
        help="side of the square at the world centre "
        "the bots walk in, m (2000, the city scenario's downtown)",
    )
    p.add_argument(
        "--talk-share", type=float, default=0.0, help="fraction of bots that talk to NPCs (0..1)"
    )
    p.add_argument(
        "--talk-every", type=float, default=10.0, help="mean seconds between a talker's talks"
    )
    p.add_argument(
        "--talk-timeout",
        type=float,
        default=20.0,
        help="seconds a talk may wait for its npc_say before it counts as missing (20)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="every bot (talkers too) decodes every frame into a full protocol mirror (slower)",
    )
    p.add_argument("--idle", action="store_true", help="connect and only receive; send nothing")
    p.add_argument("--name-prefix", default="bot", help="bot names are PREFIX0, PREFIX1, ...")
    p.add_argument("--token", default=None, help="hello token (JWT) for every bot")
    p.add_argument("--seed", type=int, default=1, help="random seed of the walks")
    p.add_argument(
        "--progress",
        choices=("auto", "live", "plain", "none"),
        default="auto",
        help="live table (terminal), plain lines every 5 s, or nothing; auto picks by terminal",
    )
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    p.add_argument(
        "--slow-path",
        action="store_true",
        help="let websockets parse every frame (to compare with the fast receive path)",
    )
    p.add_argument(
        "--markers",
        action="store_true",
        help="print '@@window-open <t>' / '@@window-close <t>' on stderr (for harnesses)",
    )
    return p


def _summary_table(res: dict[str, Any]) -> Table:
    t = Table(title="ganggpt-loadtest results")
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("connected", f"{res['connected']}/{res['bots']}"),
        ("connect failures", str(res["connect_failures"])),
        ("disconnects", str(res["disconnects"])),
        ("window", f"{res['window_s']} s"),
        (
            "patches/s per client median / p5",
            f"{res['patches_per_s']['median']} / {res['patches_per_s']['p5']}",
        ),
        ("patch ratio p5 / median", f"{res['patch_ratio_p5']} / {res['patch_ratio_median']}"),
        ("kB/s per client median / p95", f"{res['kbps']['median']} / {res['kbps']['p95']}"),
        ("latency ms p50 / p99", f"{res['latency_ms']['p50']} / {res['latency_ms']['p99']}"),
        ("frames/s total", str(res["frames_per_s"])),
        ("kB/s total", str(res["kbytes_per_s"])),
        ("errors", str(res["errors"])),
        ("enters / leaves", f"{res['enters']} / {res['leaves']}"),
        ("talks / npc replies", f"{res['talks_sent']} / {res['npc_replies']}"),
        ("loadtest CPU", f"{res['loadtest_cpu_pct']} %"),
        (
            "loadtest loop lag ms p50 / p99",
            f"{res['loadtest_loop_lag_ms']['p50']} / {res['loadtest_loop_lag_ms']['p99']}",
        ),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = check_url(args.url or DEFAULT_URL, explicit=args.url is not None)
    if args.bots < 1:
        raise SystemExit("ganggpt-loadtest: --bots must be at least 1")
    if not 0.0 <= args.talk_share <= 1.0:
        raise SystemExit("ganggpt-loadtest: --talk-share must be between 0 and 1")
    for name in ("duration", "ramp", "input_rate", "connect_timeout"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"ganggpt-loadtest: --{name.replace('_', '-')} must be positive")
    opts = Options(
        url=url,
        bots=args.bots,
        duration=args.duration,
        warmup=max(0.0, args.warmup),
        linger=max(0.0, args.linger),
        ramp=args.ramp,
        connect_timeout=args.connect_timeout,
        input_rate=args.input_rate,
        speed=args.speed,
        area=args.area,
        talk_share=args.talk_share,
        talk_every=max(0.5, args.talk_every),
        talk_timeout=max(0.5, args.talk_timeout),
        mirror=args.mirror,
        idle=args.idle,
        name_prefix=args.name_prefix,
        seed=args.seed,
        progress=args.progress,
        token=args.token,
        markers=args.markers,
        slow_path=args.slow_path,
    )
    if args.no_uvloop:
        res = asyncio.run(run_loadtest(opts))
    else:
        import uvloop

        res = uvloop.run(run_loadtest(opts))
    out = Console() if sys.stdout.isatty() else Console(width=120)
    out.print(_summary_table(res))
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), orjson.dumps(res) + b"\n")
    missing = res["bots"] - res["connected"]
    if missing:
        reasons = ", ".join(f"{k} x{v}" for k, v in sorted(res["connect_failure_reasons"].items()))
        sys.stderr.write(
            f"ganggpt-loadtest: {missing} of {res['bots']} bots did not join"
            f"{f' ({reasons})' if reasons else ''}\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
