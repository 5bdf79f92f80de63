"""An innocent client that reads all the time, to show that limits hit only the offender.

The server under test runs with IDLE_PATCH_INTERVAL=0, so every patch is sent whether or not
anything moved: the observer must then get SEND_RATE frames a second. It is measured over a
window of real time and compared with a generous share of that rate (the box running the tests
is loaded; what must not happen is the observer starving or being closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from websockets.exceptions import ConnectionClosed

from tests.server.conftest import Client, open_client

OBSERVED = {"idle_patch_interval": 0.0}  # config: a frame every patch
RATE_SHARE = 0.4  # the share of SEND_RATE the observer must keep while others misbehave


class Observer:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.closed: int | bool | None = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, name: str = "observer") -> Observer:
        return cls(await open_client(url, name))

    async def _read(self) -> None:
        try:
            while True:
                await self.client.recv_one(60)
        except ConnectionClosed as e:
            self.closed = e.rcvd.code if e.rcvd else None
        except (TimeoutError, asyncio.CancelledError):
            pass

    def frames_since(self, t0: float) -> int:
        return sum(1 for t, _ in self.client.frames if t >= t0)

    async def assert_keeps_rate(self, since: float, send_rate: int, window: float = 1.5) -> float:
        """The observer's frame rate since `since` (waiting until the window is at least
        `window` seconds long) is a fair share of `send_rate`, and it is still connected."""
        while time.time() - since < window and self.closed is False:
            await asyncio.sleep(0.05)
        elapsed = time.time() - since
        rate = self.frames_since(since) / elapsed
        assert self.closed is False, f"the observer was closed ({self.closed})"
        assert rate >= RATE_SHARE * send_rate, (
            f"observer got {rate:.1f} frames/s over {elapsed:.1f} s; expected about {send_rate}"
        )
        return rate

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.ws.close(), 15)
