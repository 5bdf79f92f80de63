"""Game modes over real sockets: loading from GAME_MODULES, and a misbehaving handler that is
answered and counted while every other client plays on."""

from __future__ import annotations

import asyncio

import pytest

from server.game.api import GameModeError
from tests.server.conftest import ServerFactory, open_client

pytestmark = pytest.mark.timeout(60)
MODE = "tests.server.modes_for_tests"


def _v(srv: object, name: str, **labels: str) -> float:
    return srv.state.metrics.registry.get_sample_value(name, labels) or 0.0  # type: ignore[attr-defined]


async def test_a_failing_and_a_slow_handler_are_answered_and_counted(start: ServerFactory) -> None:
    srv = await start(game_modules=MODE, spawn_area_size=100.0)
    bad = await open_client(srv.url, "bad")
    watcher = await open_client(srv.url, "watcher")
    before = len(watcher.frames)
    for _ in range(10):
        await bad.ws.send('{"op":"custom","type":"test.boom","data":{}}')
        await bad.ws.send('{"op":"custom","type":"test.slow","data":{}}')
    await bad.until(
        lambda c: (
            sum(t.get("name") == "HANDLER_FAILED" for t in c.texts) == 10
            and sum(t.get("type") == "test.slow_done" for t in c.texts) == 10
        ),
        10,
    )
    assert all(t.get("code") == 14 for t in bad.texts if t.get("name") == "HANDLER_FAILED")
    assert _v(srv, "ganggpt_game_handler_errors_total", handler="custom:test.boom") == 10
    assert _v(srv, "ganggpt_game_handler_overruns_total", handler="custom:test.slow") == 10
    # Neither client was closed (10 failures are the server's, not the client's errors), and
    # the watcher kept receiving its patches throughout.
    await bad.ws.send('{"op":"custom","type":"test.echo","data":{"n":1}}')
    await watcher.until(lambda c: any(t.get("type") == "test.echoed" for t in c.texts), 5)
    n = len(watcher.frames)
    await watcher.until(lambda c: len(c.frames) >= n + 10, 5)
    assert len(watcher.frames) > before


async def test_unknown_custom_type_counts_against_the_error_budget(start: ServerFactory) -> None:
    srv = await start(game_modules=MODE)
    c = await open_client(srv.url, "prober")
    for i in range(25):
        await c.ws.send(f'{{"op":"custom","type":"nope.t{i}","data":{{}}}}')
    assert await c.closed_code() == 4008  # TOO_MANY_ERRORS
    assert _v(srv, "ganggpt_protocol_errors_total", code="UNKNOWN_TYPE") >= 20


async def test_a_module_that_cannot_load_stops_the_start_naming_the_variable(
    start: ServerFactory,
) -> None:
    with pytest.raises(GameModeError, match="GAME_MODULES"):
        await start(game_modules="tests.server.no_such_mode")
    with pytest.raises(GameModeError, match="setup"):
        await start(game_modules="tests.server.game_fakes")  # a module without setup(api)


async def test_timers_run_and_stop(start: ServerFactory) -> None:
    srv = await start()
    from server.game.api import GameApi

    api = GameApi(srv.state.game, "tests")
    ticks: list[int] = []
    t = api.every(0.02, lambda: ticks.append(1))
    once: list[int] = []
    api.after(0.01, lambda: once.append(1))
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while (len(ticks) < 3 or not once) and loop.time() < end:
        await asyncio.sleep(0.01)
    assert len(ticks) >= 3 and once == [1]
    t.cancel()
    n = len(ticks)
    await asyncio.sleep(0.1)
    assert len(ticks) == n and not srv.state.game.modes.timers
