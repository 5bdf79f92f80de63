"""SIGTERM across a real restart: the server process tells its clients to come back (resume
token, then close 1012), exits 0 within DRAIN_TIMEOUT, and the next process on the same SQLite
file resumes them: same player id, same position. Shown with a raw client that resumes by
hand and with the SDK, which does it on its own.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from client_sdk import Client as SdkClient
from client_sdk import ClientEvent, Disconnected, Reconnected, ReconnectRequested, connect
from protocol.catalogue import CloseCode
from tests.e2e.conftest import SpawnServer
from tests.e2e.support import Player, distance, eventually

pytestmark = pytest.mark.timeout(90)

DRAIN_TIMEOUT = 3.0
# What "a little" past DRAIN_TIMEOUT may take on a loaded machine: flushing persistence,
# closing the database, interpreter exit. The measured time is printed.
EXIT_ALLOWANCE = 5.0


async def sdk_walk(c: SdkClient, x: float, y: float, speed: float = 40.0) -> None:
    """Move the SDK client in small steps (the server rejects teleports), then wait for the
    server to echo the final position."""
    w = c.welcome
    assert w is not None
    x0, y0, z = w.x, w.y, w.z
    steps = 20
    for i in range(1, steps + 1):
        c.move(x0 + (x - x0) * i / steps, y0 + (y - y0) * i / steps, z, 0.0)
        await asyncio.sleep(((x - x0) ** 2 + (y - y0) ** 2) ** 0.5 / speed / steps)
    await c.wait_until(lambda: c.me is not None and distance((c.me.x, c.me.y), (x, y)) < 0.1, 15)


async def test_sigterm_drains_and_clients_resume_on_the_restarted_server(
    spawn_server: SpawnServer,
) -> None:
    settings = {
        "DRAIN_TIMEOUT": DRAIN_TIMEOUT,
        "SNAPSHOT_INTERVAL": 0.2,
        "NPC_COUNT": 20,
        "SPAWN_AREA_SIZE": 200,
    }
    first = spawn_server(**settings)
    await first.wait_serving(30)

    raw = await Player.join(first.url, "drain-raw")
    raw_target = (raw.pos[0] + 18.0, raw.pos[1] + 7.0)
    await raw.walk_to(*raw_target)

    seen: list[ClientEvent] = []
    sdk = await connect(
        first.url,
        name="drain-sdk",
        backoff_base=0.1,
        backoff_max=0.5,
        max_attempts=200,  # keeps trying while the server restarts (about 0.5 s apart)
        open_timeout=5.0,
    )
    try:
        sdk.on(ReconnectRequested, seen.append)
        sdk.on(Disconnected, seen.append)
        sdk.on(Reconnected, seen.append)
        sdk_pid = sdk.player_id
        w = sdk.welcome
        assert w is not None
        sdk_target = (w.x - 11.0, w.y + 16.0)
        await sdk_walk(sdk, *sdk_target)

        def raw_echoed() -> bool:
            me = raw.c.mirror.me
            return me is not None and distance((me.x, me.y), raw_target) < 0.1

        await eventually(raw_echoed, 15, "the server echoing the raw client's last move")
        raw_pid = raw.player_id

        signalled = time.monotonic()
        first.signal(signal.SIGTERM)
        await asyncio.wait_for(raw.closed.wait(), DRAIN_TIMEOUT + EXIT_ALLOWANCE)
        notice = next(t for t in raw.texts if t.get("op") == "reconnect")
        assert notice["resume_token"] and notice["resume_window"] > 0
        assert raw.close_code == CloseCode.SERVICE_RESTART
        rc = await first.wait_exit(DRAIN_TIMEOUT + EXIT_ALLOWANCE)
        exited_after = time.monotonic() - signalled
        assert rc == 0, first.log_tail()
        print(
            f"\nSIGTERM: process exited 0 after {exited_after:.2f} s"
            f" (DRAIN_TIMEOUT {DRAIN_TIMEOUT} s)"
        )
        assert any(isinstance(e, ReconnectRequested) for e in seen)
        gone = [e for e in seen if isinstance(e, Disconnected)]
        assert gone and gone[0].code == CloseCode.SERVICE_RESTART and gone[0].will_retry

        second = spawn_server(port=first.port, **settings)
        await second.wait_serving(30)
        back = await Player.join(second.url, "drain-raw", resume=str(notice["resume_token"]))
        assert back.welcome.resumed and back.player_id == raw_pid
        assert distance((back.welcome.x, back.welcome.y), raw_target) < 0.01

        await eventually(
            lambda: any(isinstance(e, Reconnected) for e in seen), 30, "the SDK reconnected"
        )
        ev = next(e for e in seen if isinstance(e, Reconnected))
        assert ev.resumed and sdk.player_id == sdk_pid
        assert distance((ev.welcome.x, ev.welcome.y), sdk_target) < 0.01
        print(f"SDK resumed by itself after {ev.attempt} attempt(s), player {sdk_pid}")
        await back.close()
    finally:
        await sdk.close()
    second.signal(signal.SIGTERM)
    assert await second.wait_exit(DRAIN_TIMEOUT + EXIT_ALLOWANCE) == 0
