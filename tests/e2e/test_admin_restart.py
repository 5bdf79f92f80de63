"""`server.restart` from the admin API in a real process: players are warned, the server
drains and the process exits 0 for its supervisor to start it again; the first administrator
was made with `ganggpt role`."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from typing import Any

import aiohttp

from protocol.catalogue import CloseCode
from tests.e2e.conftest import SpawnServer
from tests.e2e.support import REPO, Player

PW = "correct horse battery"


async def post(port: int, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.post(f"http://127.0.0.1:{port}{path}", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_admin_restart_drains_and_exits(spawn_server: SpawnServer) -> None:
    settings = {"JWT_SECRET": secrets.token_hex(32), "BCRYPT_ROUNDS": 10, "NPC_COUNT": 10}
    server = spawn_server(**settings)
    await server.wait_serving(30)
    status, _ = await post(
        server.port,
        "/auth/register",
        {"username": "boss", "email": "boss@example.com", "password": PW},
    )
    assert status == 201
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server", "role", "boss", "admin"],
        cwd=REPO,
        env=server.env,
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    status, tokens = await post(server.port, "/auth/login", {"username": "boss", "password": PW})
    assert status == 200

    guest = await Player.join(server.url, "bystander")
    status, body = await post(
        server.port, "/admin/api/server.restart", {"in_s": 1}, tokens["access_token"]
    )
    assert status == 200 and body["ok"], body
    assert await server.wait_exit(30) == 0, server.log_tail()
    assert "restart requested from the admin console" in server.log_tail()
    await asyncio.wait_for(guest.closed.wait(), 10)
    assert guest.close_code == CloseCode.SERVICE_RESTART
    warned = [t for t in guest.texts if t.get("op") == "event" and t["type"] == "announcement"]
    assert warned and warned[0]["data"]["restart_in_s"] == 1
    assert any(t.get("op") == "reconnect" for t in guest.texts)
