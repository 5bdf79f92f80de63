"""Each transport limit over real sockets: the offender is refused or closed with its documented
status or code and counted, while an observer on the same server keeps its patch rate."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import ssl
import sys
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from config import ConfigError, load_config
from protocol.catalogue import CloseCode, ErrorCode
from server.app import Server, StartError, tls_context
from tests.server.conftest import BASE, ServerFactory, open_client
from tests.server.observer import OBSERVED, Observer
from tests.server.raw import sample, wait_for

LIMITED = {**OBSERVED, "ip_limits_exempt": ""}  # loopback limited like any address


@pytest.fixture
async def observers() -> AsyncIterator[list[Observer]]:
    opened: list[Observer] = []
    yield opened
    for o in opened:
        await o.close()


async def observe(srv: Server, observers: list[Observer]) -> Observer:
    obs = await Observer.open(srv.url)
    observers.append(obs)
    return obs


async def http(port: int, request: bytes, *, tls: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header(answer: bytes, name: str) -> str | None:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


async def refused_status(url: str, **kw: object) -> int:
    with pytest.raises(InvalidStatus) as ei:
        async with connect(url, open_timeout=5, **kw):  # type: ignore[arg-type]
            pass
    return ei.value.response.status_code


async def close_code(ws: ClientConnection, timeout: float = 15.0) -> int | None:
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None
    return ws.close_code


# --- per address: open connections and handshakes ---


async def test_connections_per_ip(start: ServerFactory, observers: list[Observer]) -> None:
    srv = await start(**LIMITED, max_connections_per_ip=3)
    obs = await observe(srv, observers)
    t0 = time.time()
    held = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(2)]
    await wait_for(lambda: srv.state.admission.open_from("127.0.0.1") == 3, 5, "3 counted")
    # The fourth is answered without being read.
    answer = await http(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 429 and b"more than 3 connections" in answer
    assert await refused_status(srv.url) == 429
    assert sample(srv, "ganggpt_connections_refused_total", reason="ip_connections") == 2
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)
    _, writer = held.pop()
    writer.close()
    await wait_for(lambda: srv.state.admission.open_from("127.0.0.1") == 2, 5, "released")
    second = await open_client(srv.url, "second")  # a freed place is taken again
    await second.ws.close()
    for _, w in held:
        w.close()


async def test_handshake_rate_per_ip(start: ServerFactory, observers: list[Observer]) -> None:
    srv = await start(**LIMITED, handshakes_per_ip=3, handshake_rate_window=60)
    obs = await observe(srv, observers)  # the first handshake
    t0 = time.time()
    base = f"ws://127.0.0.1:{srv.port}"
    assert await refused_status(base + "/nope") == 404  # every upgrade counts, any path
    c = await open_client(srv.url, "second")
    with pytest.raises(InvalidStatus) as ei:
        async with connect(srv.url, open_timeout=5):
            pass
    response = ei.value.response
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert sample(srv, "ganggpt_connections_refused_total", reason="handshake_rate") == 1
    # Plain HTTP is not an upgrade: /health still answers.
    assert status_of(await http(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)
    assert not c.ws.close_code
    await c.ws.close()


async def test_loopback_is_exempt_by_default(start: ServerFactory) -> None:
    srv = await start(**OBSERVED, max_connections_per_ip=1, handshakes_per_ip=1)
    a = await open_client(srv.url, "alpha")
    b = await open_client(srv.url, "bravo")
    await a.ws.close()
    await b.ws.close()


# --- per connection: the message budget and the chat budget ---


async def test_every_frame_counts_a_pong_flood_closes_4007(
    start: ServerFactory, observers: list[Observer]
) -> None:
    srv = await start(**OBSERVED, input_rate_limit=40, flood_close_after=2)
    obs = await observe(srv, observers)
    bad = await open_client(srv.url, "ponger")
    t0 = time.time()

    async def flood() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:  # unsolicited pongs: not answered, but counted
                for _ in range(20):
                    await bad.ws.pong(b"x")
                await asyncio.sleep(0.02)

    task = asyncio.create_task(flood())
    try:
        assert await close_code(bad.ws) == CloseCode.FLOODING
    finally:
        task.cancel()
    assert sample(srv, "ganggpt_closes_total", code="4007") == 1
    assert sample(srv, "ganggpt_protocol_errors_total", code="RATE_LIMITED") >= 1
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)


async def test_each_fragment_counts(start: ServerFactory, observers: list[Observer]) -> None:
    srv = await start(**OBSERVED, input_rate_limit=40)
    obs = await observe(srv, observers)
    c = await open_client(srv.url, "fragments")
    t0 = time.time()
    text = orjson.dumps({"op": "chat", "text": "x" * 100}).decode()
    await c.ws.send(iter(text))  # one message in ~110 one-character fragments
    err = await c.text("error", 15)
    assert err["name"] == "RATE_LIMITED"
    assert not any(t.get("op") == "chat" for t in c.texts)  # the message was dropped
    await c.drain(1.1)  # a new one-second window
    await c.ws.send(text)
    said = await c.text("chat")
    assert said["text"] == "x" * 100
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)
    await c.ws.close()


async def test_chat_and_custom_have_their_own_lower_limit(
    start: ServerFactory, observers: list[Observer]
) -> None:
    srv = await start(**OBSERVED, chat_rate_limit=3, chat_rate_window=60)
    obs = await observe(srv, observers)
    c = await open_client(srv.url, "chatty")
    # A chat sent before the first tick has placed the speaker in a cell reaches no one (the
    # game layer's delivery; not this test's subject): wait for a patch first.
    await c.until(lambda c: len(c.frames) >= 2, 15)
    t0 = time.time()
    for i in range(3):
        await c.ws.send(orjson.dumps({"op": "chat", "text": f"hi {i}"}).decode())
    await c.until(lambda c: sum(t.get("op") == "chat" for t in c.texts) == 3, 15)
    await c.ws.send(orjson.dumps({"op": "chat", "text": "one too many"}).decode())
    err = await c.text("error", 15)
    assert (err["code"], err["name"]) == (18, "CHAT_RATE_LIMITED")
    await c.ws.send(orjson.dumps({"op": "custom", "type": "x.y", "data": {}}).decode())
    err = await c.text("error", 15)
    assert err["name"] == "CHAT_RATE_LIMITED"  # not UNKNOWN_TYPE: dropped before the game
    await c.ws.send(orjson.dumps({"op": "ping", "id": 1}).decode())
    assert (await c.text("pong"))["id"] == 1  # other messages are not under this limit
    assert sum(t.get("op") == "chat" for t in c.texts) == 3
    # Persisting is a flood: the errors use up the error budget.
    with contextlib.suppress(ConnectionClosed):
        for i in range(30):
            await c.ws.send(orjson.dumps({"op": "chat", "text": f"spam {i}"}).decode())
    assert await c.closed_code() == CloseCode.TOO_MANY_ERRORS
    assert sample(srv, "ganggpt_protocol_errors_total", code="CHAT_RATE_LIMITED") >= 20
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)


def test_chat_limit_must_be_lower_than_the_message_budget() -> None:
    with pytest.raises(ConfigError, match="CHAT_RATE_LIMIT"):
        load_config(**BASE, chat_rate_limit=200, chat_rate_window=1.0)


# --- Origin, paths, methods ---


async def test_origin_checked_against_cors_origins(
    start: ServerFactory, observers: list[Observer]
) -> None:
    srv = await start(
        **OBSERVED, cors_origins="https://good.example, http://localhost:3000, package://ganggpt"
    )
    obs = await observe(srv, observers)  # no Origin: not a browser, allowed
    t0 = time.time()
    assert await refused_status(srv.url, origin="https://evil.example") == 403
    assert await refused_status(srv.url, origin="null") == 403
    assert sample(srv, "ganggpt_connections_refused_total", reason="origin") == 2
    for name, origin in (
        ("good", "https://good.example"),
        ("local", "http://localhost:3000"),
        ("cef", "package://ganggpt"),  # a game client's embedded browser
        ("same", f"http://127.0.0.1:{srv.port}"),  # a page this server serves
    ):
        c = await open_client(srv.url, name, origin=origin)
        await c.ws.close()
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)
    star = await start(**OBSERVED, cors_origins="*")
    c = await open_client(star.url, "anyone", origin="https://evil.example")
    await c.ws.close()


def test_cors_origins_are_validated() -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_config(**BASE, cors_origins="https://ok.example, just-a-host")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_config(**BASE, cors_origins="https://ok.example/path")
    with pytest.raises(ConfigError, match="IP_LIMITS_EXEMPT"):
        load_config(**BASE, ip_limits_exempt="10.0.0.0/8, not-an-address")


@pytest.mark.parametrize(
    ("request_line", "status", "allow"),
    [
        ("POST /ws", 405, "GET"),
        ("PUT /health", 405, "GET"),
        ("DELETE /metrics", 405, "GET"),
        ("POST /admin", 405, "GET"),
        ("OPTIONS /ws", 405, "GET"),
        ("POST /nowhere", 404, None),
        ("GET /ws", 426, None),
        ("GET /", 404, None),
        ("GET /auth/login", 405, "POST"),
    ],
)
async def test_methods_each_path_serves(
    start: ServerFactory, request_line: str, status: int, allow: str | None
) -> None:
    srv = await start()
    body = b"" if request_line.startswith("GET") else b'{"a":1}'
    answer = await http(
        srv.port,
        f"{request_line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert status_of(answer) == status, answer[:200]
    if allow is not None:
        assert header(answer, "Allow") == allow


# --- /health and /metrics on their own port ---


async def test_ops_port_keeps_health_and_metrics_off_the_game_port(start: ServerFactory) -> None:
    srv = await start(metrics_port=0)
    assert srv.ops is not None and srv.ops_port != srv.port
    get = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await http(srv.ops_port, get)
    assert status_of(answer) == 200 and orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["status"]
    metrics = await http(srv.ops_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(metrics) == 200 and b"ganggpt_ticks_total" in metrics
    assert status_of(await http(srv.port, get)) == 404
    assert status_of(await http(srv.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 404
    assert status_of(await http(srv.port, b"POST /health HTTP/1.1\r\nHost: x\r\n\r\n")) == 404
    post = await http(
        srv.ops_port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert status_of(post) == 405 and header(post, "Allow") == "GET"
    assert status_of(await http(srv.ops_port, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")) == 404
    assert status_of(await http(srv.ops_port, b"\x00\x01garbage\r\n\r\n")) == 400
    c = await open_client(srv.url, "player")  # the game is where it was
    await c.ws.close()


def test_production_moves_health_and_metrics_by_default() -> None:
    secret = "f3a9c1e27b4d8e6f0a2c5b7d9e1f3a5c"
    prod = load_config(**BASE, env="production", jwt_secret=secret)
    assert prod.metrics_separate and prod.metrics_bind == ("127.0.0.1", 22006)
    assert not load_config(**BASE).metrics_separate
    same = load_config(**{**BASE, "server_port": 22005}, env="production", jwt_secret=secret,
                       metrics_port=22005)  # fmt: skip
    assert not same.metrics_separate


# --- TLS ---


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_on_the_server_port(
    start: ServerFactory, tmp_path: Path, observers: list[Observer]
) -> None:
    cert, key = self_signed(tmp_path)
    srv = await start(**OBSERVED, tls_cert_file=str(cert), tls_key_file=str(key))
    assert srv.url.startswith("wss://")
    trust = ssl.create_default_context(cafile=str(cert))
    obs = Observer(await open_client(srv.url, "secure", ssl=trust))
    observers.append(obs)
    t0 = time.time()
    answer = await http(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", tls=trust)
    assert status_of(answer) == 200
    old = ssl.create_default_context(cafile=str(cert))
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await http(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", tls=old)
    with pytest.raises((InvalidHandshake, ConnectionError, OSError, TimeoutError)):
        async with connect(f"ws://127.0.0.1:{srv.port}/ws", open_timeout=3):
            pass
    await obs.assert_keeps_rate(t0, srv.state.config.send_rate)
    ctx = tls_context(srv.state.config)
    assert ctx is not None and ctx.minimum_version == ssl.TLSVersion.TLSv1_2


async def test_tls_settings_fail_at_start_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TLS_KEY_FILE"):
        load_config(**BASE, tls_cert_file=str(tmp_path / "cert.pem"))
    with pytest.raises(ConfigError, match="TLS_CERT_FILE: no such file"):
        load_config(**BASE, tls_cert_file=str(tmp_path / "x"), tls_key_file=str(tmp_path / "y"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    cfg = load_config(**BASE, tls_cert_file=str(junk), tls_key_file=str(junk))
    with pytest.raises(StartError, match="TLS_CERT_FILE"):
        tls_context(cfg)


# --- login throttling per address, over HTTP ---


async def test_login_throttled_per_ip(start: ServerFactory) -> None:
    from tests.server.test_accounts_http import AUTH, PW, call, register

    srv = await start(**{**AUTH, "login_failures_per_account": 100}, login_failures_per_ip=3)
    await register(srv, "Roman")
    for name in ("a1", "b2", "c3"):  # three accounts, one address
        status, _, _ = await call(srv, "POST", "/auth/login", {"username": name, "password": PW})
        assert status == 401
    status, body, headers = await call(
        srv, "POST", "/auth/login", {"username": "roman", "password": PW}
    )
    assert (status, body["error"], body["scope"]) == (429, "throttled", "ip")
    assert int(headers["Retry-After"]) >= 1
    assert ErrorCode.CHAT_RATE_LIMITED == 18


async def test_healthcheck_follows_the_separate_port(start: ServerFactory, tmp_path: Path) -> None:
    srv = await start(metrics_port=0)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SERVER_", "METRICS_"))},
        "GANGGPT_ENV_FILE": str(tmp_path / "none.env"),
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": str(srv.port),
        "METRICS_PORT": str(srv.ops_port),
        "SQLITE_PATH": str(tmp_path / "x.db"),
    }

    async def healthcheck(**extra: str) -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "healthcheck", "--timeout", "3",
            env={**env, **extra}, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await asyncio.wait_for(proc.wait(), 60)

    assert await healthcheck() == 0
    # Asked on the game port (METRICS_PORT = SERVER_PORT: "same port"), /health is not there.
    assert await healthcheck(METRICS_PORT=str(srv.port)) == 1
