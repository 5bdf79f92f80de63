"""Helpers of the end-to-end tests: the server as a real process, plain HTTP probes of
/health and /metrics, and players that read their frames on a task of their own.

Why a task per player: the tests hold many clients at once (some walking, some standing
still) while they kill, cut and restart things; each client must keep reading its frames the
whole time, as a game client does, or the server would rightly close it as a slow reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from config import Config
from protocol.control import Welcome
from protocol.mirror import Mirror
from tests.server.conftest import Client

REPO = Path(__file__).resolve().parents[2]
CONFIG_VARS = frozenset(name.upper() for name in Config.model_fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def via(url: str, port: int) -> str:
    """`url` with its port replaced: the same service, reached through a proxy."""
    p = urlsplit(url)
    netloc = p.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float,
    what: str,
    every: float = 0.05,
) -> float:
    """Poll `check` until it is true; returns the seconds it took, fails after `timeout`."""
    t0 = time.monotonic()
    while True:
        res = check()
        if not isinstance(res, bool):
            res = await res
        if res:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


# --- plain HTTP on the game port ---------------------------------------------------------------


async def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of one GET; the server answers and closes the connection."""

    async def fetch() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            raw = await reader.read(-1)
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    return await asyncio.wait_for(fetch(), timeout)


async def health(port: int) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /health, with `checks` turned into a dict by check name."""
    status, body = await http_get(port, "/health")
    h = orjson.loads(body)
    h["by_name"] = {c["name"]: c for c in h["checks"]}
    return status, h


Sample = tuple[str, dict[str, str], float]


async def is_healthy(port: int) -> bool:
    """/health answers 200 with status "healthy" (every check ok)."""
    status, h = await health(port)
    return status == 200 and h["status"] == "healthy"


def parse_metrics(text: str) -> list[Sample]:
    """Prometheus text format -> (name, labels, value) samples."""
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, rest = series.partition("{")
        labels: dict[str, str] = {}
        for part in rest.rstrip("}").split(","):
            if "=" in part:
                k, _, v = part.partition("=")
                labels[k] = v.strip('"')
        out.append((name, labels, float(value)))
    return out


def metric(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    return sum(
        v
        for n, lab, v in samples
        if n == name and all(lab.get(k) == want for k, want in labels.items())
    )


async def scrape(port: int) -> list[Sample]:
    status, body = await http_get(port, "/metrics")
    assert status == 200, status
    return parse_metrics(body.decode())


# --- the server as a process -------------------------------------------------------------------


def server_env(port: int, workdir: Path, **settings: Any) -> dict[str, str]:
    """The environment of a server process: this one's, minus any server setting it may carry
    (a developer's DATABASE_URL must not leak in), plus `settings` (Config field names)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in CONFIG_VARS}
    env.update(
        GANGGPT_ENV_FILE=str(workdir / "absent.env"),  # never a developer's .env
        PYTHONUNBUFFERED="1",
        SERVER_HOST="127.0.0.1",
        SERVER_PORT=str(port),
        LOG_LEVEL="warning",
        SQLITE_PATH=str(workdir / "game.db"),
        JOURNAL_PATH=str(workdir / "journal"),
    )
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


class ServerProcess:
    """`python -m server run` in a process of its own, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["SERVER_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.spawned_at = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "run"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def wait_serving(self, timeout: float) -> float:
        """Wait for /health to answer 200; returns the seconds since the process was spawned."""
        end = time.monotonic() + timeout
        while True:
            if not self.running:
                rc = self.proc.returncode if self.proc else None
                raise AssertionError(f"server exited with {rc}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, TimeoutError, ValueError, IndexError):
                status, _ = await http_get(self.port, "/health", timeout=2.0)
                if status == 200:
                    return time.monotonic() - self.spawned_at
            if time.monotonic() > end:
                raise AssertionError(f"server not serving after {timeout} s:\n{self.log_tail()}")
            await asyncio.sleep(0.02)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        end = time.monotonic() + timeout
        while (rc := self.proc.poll()) is None:
            if time.monotonic() > end:
                raise AssertionError(f"server still running after {timeout} s:\n{self.log_tail()}")
            await asyncio.sleep(0.02)
        return rc

    def stop(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


# --- players -----------------------------------------------------------------------------------


class Player:
    """A raw test client (tests.server.conftest.Client) whose frames are read by a task.

    `trail` holds (loop time, x, y) of every position sent, so a test can tell which moment a
    restored position comes from.
    """

    def __init__(self, client: Client) -> None:
        self.c = client
        w = self.welcome
        self.pos = (w.x, w.y, w.z)
        self.trail: list[tuple[float, float, float]] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def join(cls, url: str, name: str, resume: str | None = None) -> Player:
        """Connect, say hello (with `resume` as the resume token if given), wait for welcome."""
        ws = await connect(url, compression=None, open_timeout=10, max_size=1 << 22)
        mirror = Mirror(name=name)
        mirror.resume_token = resume
        client = Client(ws, mirror)
        try:
            await ws.send(mirror.hello().decode())
            await client.until(lambda c: c.mirror.welcomed, timeout=15)
        except BaseException:
            await ws.close()
            raise
        return cls(client)

    @property
    def welcome(self) -> Welcome:
        w = self.c.mirror.welcome
        assert w is not None
        return w

    @property
    def player_id(self) -> str:
        return self.welcome.player_id

    @property
    def resume_token(self) -> str:
        token = self.c.mirror.resume_token
        assert token
        return token

    @property
    def seq(self) -> int:
        return self.c.mirror.last_seq

    @property
    def texts(self) -> list[dict[str, Any]]:
        return self.c.texts

    async def _read(self) -> None:
        try:
            while True:
                await self.c.recv_one(timeout=3600)
        except ConnectionClosed as e:
            self.close_code = e.rcvd.code if e.rcvd is not None else None
        finally:
            self.closed.set()

    async def move(self, x: float, y: float) -> None:
        if self.closed.is_set():
            return
        z = self.pos[2]
        with contextlib.suppress(ConnectionClosed):
            await self.c.move(x, y, z, 0.0)
            self.pos = (x, y, z)
            self.trail.append((asyncio.get_running_loop().time(), x, y))

    async def walk_to(self, x: float, y: float, speed: float = 40.0, rate: float = 20.0) -> None:
        """Straight to (x, y) at `speed` m/s, `rate` inputs a second."""
        x0, y0, _ = self.pos
        steps = max(1, math.ceil(math.hypot(x - x0, y - y0) / (speed / rate)))
        for i in range(1, steps + 1):
            await self.move(x0 + (x - x0) * i / steps, y0 + (y - y0) * i / steps)
            await asyncio.sleep(1 / rate)

    async def wander(
        self, angle_deg: float, speed: float, stop: asyncio.Event, rate: float = 20.0
    ) -> None:
        """Walk a straight line at `speed` m/s until `stop` (or the connection ends). The
        position follows the clock, so a slow loop makes bigger steps, not a slower bot."""
        loop = asyncio.get_running_loop()
        x0, y0, _ = self.pos
        dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
        t0 = loop.time()
        while not stop.is_set() and not self.closed.is_set():
            d = speed * (loop.time() - t0)
            await self.move(x0 + dx * d, y0 + dy * d)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)

    def drop(self) -> None:
        """Cut the socket without a close frame, as a network failure does."""
        self.c.ws.transport.abort()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.c.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])
