"""Fuzzing a live server: generated and mutated WebSocket frames (text and binary, control and
fragmented, valid framing and garbage) on each WebSocket endpoint, and raw garbage HTTP.

The server runs in a thread of its own (its own uvloop loop, as in production) so hypothesis
drives it from plain blocking sockets. Bounded: a fixed number of examples per run, each a
short-lived connection. After each run: no connection ever raised inside the server
(`ganggpt_connection_errors_total` stays 0), the tick kept running and still runs, the
process's memory grew by a bounded amount and the connections were all let go, and an
observer connected throughout kept its patch rate and was never closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.sync.client import connect
from websockets.uri import parse_uri

from config import load_config
from protocol.state import InputFrame, encode_input
from server.app import Server, start_server
from server.net.http import _rss_mb
from server.persistence.memory import MemoryPersistence
from tests.server.conftest import BASE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))  # per endpoint, per run
RSS_GROWTH_MAX_MB = 150.0
RATE_SHARE = 0.4  # of SEND_RATE, kept by the observer while the fuzzer runs
PW = "correct horse battery staple"


def _client_texts() -> list[bytes]:
    cases = json.loads((ROOT / "protocol/vectors/control_messages.json").read_text())
    return [c["text"].encode() for c in cases if c.get("sender") == "client" and "text" in c]


GAME_TEXTS = _client_texts()
GAME_BINARY = [encode_input(InputFrame(7, 3, 12.5, -40.25, 30.0, 90.0))]


@dataclass(frozen=True)
class Endpoint:
    path: str
    first: Callable[[Live, int], bytes]  # the n-th connection's valid first message
    texts: list[bytes]  # valid text messages, seeds for mutation
    welcome: bytes  # in the answer to a valid first message
    binaries: list[bytes] = field(default_factory=list)


# Admin commands a moderator may run that touch no one (the observer must not be kicked).
ADMIN_TEXTS = [
    b'{"op":"cmd","id":1,"cmd":"players.list","args":{}}',
    b'{"op":"cmd","id":2,"cmd":"players.inspect","args":{"player":"fuzz1"}}',
    b'{"op":"cmd","id":3,"cmd":"server.metrics","args":{}}',
    b'{"op":"cmd","id":4,"cmd":"players.warn","args":{"player":"nobody here","reason":"x"}}',
    b'{"op":"cmd","id":5,"cmd":"logs.tail","args":{"n":5}}',
    b'{"op":"cmd","id":6,"cmd":"players.notes","args":{"player":"nobody here"}}',
]

# WebSocket endpoints fuzzed: one line each.
ENDPOINTS = [
    Endpoint(
        "/ws",
        lambda live, n: b'{"op":"hello","v":1,"name":"fuzz%d"}' % n,
        GAME_TEXTS,
        b'"op":"welcome"',
        GAME_BINARY,
    ),
    Endpoint(
        "/admin",
        lambda live, n: b'{"op":"auth","token":"%s"}' % live.admin_token.encode(),
        ADMIN_TEXTS,
        b'"op":"authed"',
    ),
]


# --- the live server, in a thread ---


class Live:
    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.server: Server | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "the server did not start"
        assert self.server is not None
        self.port: int = self.server.port
        self.n = 0
        self.admin_token = self._moderator()

    def _moderator(self) -> str:
        """An access token of a moderator (kick and warn, no ban, no restart)."""
        import asyncio

        async def make() -> str:
            assert self.server is not None and self.server.state.accounts is not None
            accounts = self.server.state.accounts
            acc = await accounts.register(
                username="fuzzmod", email="fuzzmod@example.com", password=PW, ip="127.0.0.1"
            )
            await accounts.set_role(acc.id, "moderator")
            pair = await accounts.login({"login": "fuzzmod", "password": PW}, ip="127.0.0.1")
            return pair.access_token

        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(30)

    def _run(self) -> None:
        cfg = load_config(
            **BASE,
            idle_patch_interval=0.0,
            handshake_timeout=2.0,
            max_players=1000,
            resume_window=0.0,
            jwt_secret=os.urandom(32).hex(),
            access_token_ttl=3600,
            bcrypt_rounds=10,
        )

        async def up() -> None:
            self.server = await start_server(cfg, MemoryPersistence())

        self.loop.run_until_complete(up())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        assert self.server is not None
        srv = self.server
        import asyncio

        asyncio.run_coroutine_threadsafe(srv.close(drain=False), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def tick(self) -> int:
        assert self.server is not None
        return self.server.state.world.tick

    def metric(self, name: str, **labels: str) -> float:
        assert self.server is not None
        return self.server.state.metrics.registry.get_sample_value(name, labels) or 0.0

    def connections(self) -> int:
        assert self.server is not None
        return len(self.server.state.connections)

    def next_id(self) -> int:
        self.n += 1
        return self.n


class Observer:
    """A well-behaved player in a thread, counting the STATE frames it receives."""

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.frames: list[float] = []
        self.closed: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            with connect(self.url, open_timeout=10) as ws:
                ws.send('{"op":"hello","v":1,"name":"observer"}')
                while not self.stop.is_set():
                    try:
                        msg = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    if isinstance(msg, bytes):
                        self.frames.append(time.time())
        except Exception as e:  # any close or error while the fuzzer runs is a failure
            if not self.stop.is_set():
                self.closed = repr(e)

    def rate_since(self, t0: float) -> float:
        return sum(1 for t in self.frames if t >= t0) / max(time.time() - t0, 1e-6)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    srv = Live()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def observer(live: Live) -> Iterator[Observer]:
    obs = Observer(live.port)
    deadline = time.time() + 10
    while not obs.frames and time.time() < deadline:
        time.sleep(0.05)
    assert obs.frames, "the observer got no frames"
    yield obs
    obs.close()


# --- frames and mutations ---


def ws_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF),))
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes((mbit | n,))
    elif n < 65536:
        head += struct.pack("!BH", mbit | 126, n)
    else:
        head += struct.pack("!BQ", mbit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]),
    st.integers(0, 1 << 16),
    st.binary(min_size=1, max_size=8),
)


def mutate(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, at, extra in ops:
        i = at % (len(out) + 1)
        if op == "flip" and out:
            out[i % len(out)] ^= extra[0] or 0xFF
        elif op == "insert":
            out[i:i] = extra
        elif op == "delete":
            del out[i : i + len(extra)]
        elif op == "truncate":
            del out[i:]
        elif op == "repeat":
            out[i:i] = out[i : i + 64] * (1 + extra[0] % 4)
    return bytes(out)


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(mutate, st.sampled_from(seeds), st.lists(MUTATION, max_size=4))


def json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 70), 1 << 70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
        ),
        max_leaves=20,
    )


def frames_for(ep: Endpoint) -> st.SearchStrategy[bytes]:
    ops = st.sampled_from(["op", "hello", "chat", "custom", "ping", "talk", "who", "leave", "x"])
    texts = st.one_of(
        mutated(ep.texts),
        st.text(max_size=300).map(str.encode),
        st.builds(
            lambda op, body: json.dumps({"op": op, **body}, allow_nan=True).encode(),
            ops,
            st.dictionaries(st.text(max_size=8), json_values(), max_size=4),
        ),
        st.binary(max_size=64),  # invalid UTF-8 as text
    )
    binaries = st.one_of(
        mutated(ep.binaries) if ep.binaries else st.binary(max_size=40),
        st.binary(max_size=200),
        st.binary(min_size=4097, max_size=6000),  # over MAX_MESSAGE_SIZE
    )
    return st.one_of(
        texts.map(lambda p: ws_frame(1, p)),
        binaries.map(lambda p: ws_frame(2, p)),
        st.binary(max_size=125).map(lambda p: ws_frame(9, p)),  # ping
        st.binary(max_size=125).map(lambda p: ws_frame(10, p)),  # pong
        st.binary(min_size=126, max_size=300).map(lambda p: ws_frame(9, p)),  # oversize control
        st.tuples(texts, st.integers(1, 5)).map(
            lambda t: ws_frame(1, t[0][: t[1]], fin=False) + ws_frame(0, t[0][t[1] :])
        ),  # fragmented
        st.builds(
            ws_frame,
            st.sampled_from([0, 3, 4, 7, 8, 11, 15]),
            st.binary(max_size=40),
            fin=st.booleans(),
            rsv=st.integers(0, 7),
            masked=st.booleans(),
        ),
        mutated([ws_frame(1, GAME_TEXTS[0]), ws_frame(2, GAME_BINARY[0])]),  # broken framing
        st.binary(min_size=1, max_size=100),  # not frames at all
    )


def upgrade_request(port: int, path: str) -> bytes:
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    proto.send_request(proto.connect())
    return b"".join(proto.data_to_send())


def read_some(sock: socket.socket, until: float) -> bytes:
    out = b""
    while time.time() < until:
        sock.settimeout(max(0.001, until - time.time()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        out += chunk
    return out


def open_ws(port: int, path: str) -> socket.socket | None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(upgrade_request(port, path))
    head = b""
    deadline = time.time() + 5
    while b"\r\n\r\n" not in head and time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        return None
    return sock


def settle_and_check(live: Live, observer: Observer, t0: float, tick0: int, rss0: float) -> None:
    elapsed = time.time() - t0
    assert live.metric("ganggpt_connection_errors_total") == 0, "a connection raised in the server"
    assert observer.closed is None, f"the observer was closed: {observer.closed}"
    rate = observer.rate_since(t0)
    assert rate >= RATE_SHARE * 30, f"observer got {rate:.1f} frames/s during the fuzzing"
    cfg_tickrate = 60
    assert live.tick - tick0 >= 0.25 * cfg_tickrate * elapsed, "the tick fell behind"
    tick = live.tick
    deadline = time.time() + 5
    while live.tick < tick + 10 and time.time() < deadline:
        time.sleep(0.02)
    assert live.tick >= tick + 10, "the tick is stuck"
    # Every fuzzing connection is let go (closed, cut at its deadline or the close grace).
    deadline = time.time() + 15
    while live.connections() > 1 and time.time() < deadline:
        time.sleep(0.1)
    assert live.connections() == 1, f"{live.connections()} connections left (1 = the observer)"
    growth = _rss_mb() - rss0
    assert growth < RSS_GROWTH_MAX_MB, f"RSS grew {growth:.0f} MB"


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.path)
def test_fuzz_websocket_frames(live: Live, observer: Observer, ep: Endpoint) -> None:
    t0, tick0, rss0 = time.time(), live.tick, _rss_mb()
    seen = [0, 0]  # valid first messages sent, and answered (welcome)

    @FUZZ
    @given(
        first=st.sampled_from(["valid", "valid", "valid", "none", "frame"]),
        frames=st.lists(frames_for(ep), min_size=1, max_size=12),
        split=st.booleans(),
    )
    def run(first: str, frames: list[bytes], split: bool) -> None:
        sock = open_ws(live.port, ep.path)
        assert sock is not None, "the upgrade was refused"
        try:
            if first == "valid":
                sock.sendall(ws_frame(1, ep.first(live, live.next_id())))
                seen[0] += 1
                got, deadline = b"", time.time() + 3
                while ep.welcome not in got and time.time() < deadline:
                    more = read_some(sock, min(deadline, time.time() + 0.2))
                    if not more and sock.fileno() < 0:
                        break
                    got += more
                seen[1] += ep.welcome in got
            elif first == "frame":
                frames = [ws_frame(1, ep.first(live, live.next_id())), *frames]
            data = b"".join(frames)
            with contextlib.suppress(OSError):
                if split:  # byte by byte at the start: frames cut at every boundary
                    for i in range(min(len(data), 16)):
                        sock.send(data[i : i + 1])
                    sock.sendall(data[16:])
                else:
                    sock.sendall(data)
            read_some(sock, time.time() + 0.05)
        finally:
            sock.close()

    run()
    # The fuzzing reached past the handshake: most valid first messages were welcomed.
    assert seen[1] >= seen[0] // 2, f"only {seen[1]} of {seen[0]} valid first messages welcomed"
    settle_and_check(live, observer, t0, tick0, rss0)


HTTP_SEEDS = [
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 37\r\n\r\n{"username":"a","password":"bbbbbbb"}',
    b"POST /auth/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
]


def test_fuzz_raw_http(live: Live, observer: Observer) -> None:
    t0, tick0, rss0 = time.time(), live.tick, _rss_mb()
    methods = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"\x00"])
    paths = st.sampled_from(
        [
            b"/ws",
            b"/admin",
            b"/health",
            b"/metrics",
            b"/auth/login",
            b"/admin/api/players.list",
            b"/",
            b"*",
        ]
    )
    requests = st.one_of(
        mutated(HTTP_SEEDS),
        st.binary(max_size=2000),
        st.builds(
            lambda m, p, hs, body: (
                m
                + b" "
                + p
                + b" HTTP/1.1\r\n"
                + b"".join(k + b": " + v + b"\r\n" for k, v in hs)
                + b"\r\n"
                + body
            ),
            methods,
            paths,
            st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=6),
            st.binary(max_size=100),
        ),
    )

    @FUZZ
    @given(request=requests, split=st.booleans())
    def run(request: bytes, split: bool) -> None:
        sock = socket.create_connection(("127.0.0.1", live.port), timeout=5)
        try:
            with contextlib.suppress(OSError):
                if split:
                    for i in range(0, len(request), 7):
                        sock.send(request[i : i + 7])
                else:
                    sock.sendall(request)
            read_some(sock, time.time() + 0.05)
        finally:
            sock.close()

    run()
    settle_and_check(live, observer, t0, tick0, rss0)
