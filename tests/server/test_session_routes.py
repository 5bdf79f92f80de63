"""WebSocket sessions are routed by URL path: /ws plays, /admin is the admin console
(tests/admin), others (/ included) 404."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.server.conftest import ServerFactory, open_client


@pytest.mark.parametrize("path", ["/nope", "/ws/extra", "/", "/health", "/metrics"])
async def test_upgrade_on_an_unrouted_path_is_404(start: ServerFactory, path: str) -> None:
    srv = await start()
    with pytest.raises(InvalidStatus) as ei:
        async with connect(f"ws://127.0.0.1:{srv.port}{path}", open_timeout=5):
            pass
    assert ei.value.response.status_code == 404
    body = ei.value.response.body or b""
    assert b"no WebSocket service" in body
    v = srv.state.metrics.registry.get_sample_value(
        "ganggpt_connections_refused_total", {"reason": "path"}
    )
    assert v == 1


@pytest.mark.parametrize("path", ["/ws", "/ws?client=js"])
async def test_game_paths_play(start: ServerFactory, path: str) -> None:
    srv = await start()
    c = await open_client(f"ws://127.0.0.1:{srv.port}{path}", "pathfinder")
    assert c.mirror.welcomed
    await c.ws.close()
