"""A stand-in for the server's account endpoints and `/admin` socket (ADMIN contract), small
enough to steer: short token lives, forced closes with any code. The real server is covered by
test_admin_repl.py; this one lets tests reach the reconnect and refresh paths on demand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

PASSWORD = "pw"


@dataclass
class FakeAdmin:
    ttl: float = 60.0
    commands: list[str] = field(
        default_factory=lambda: ["players.list", "players.kick", "echo", "subscribe"]
    )
    access: str = ""
    refresh: str = ""
    logins: int = 0
    refreshes: int = 0
    logouts: list[str] = field(default_factory=list)
    auths: list[str] = field(default_factory=list)
    subscribed: list[list[str]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # command names, in order
    limited: int = 0  # answer this many commands `rate_limited` first
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _pair(self) -> dict[str, Any]:
        n = next(self._n)
        self.access, self.refresh = f"access-{n}", f"refresh-{n}"
        return {"access_token": self.access, "refresh_token": self.refresh, "expires_in": self.ttl}

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != PASSWORD:
            return web.json_response(
                {"error": "bad_credentials", "message": "wrong username or password"}, status=401
            )
        self.logins += 1
        return web.json_response(self._pair())

    async def refresh_(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("refresh_token") != self.refresh:
            return web.json_response(
                {"error": "token_refused", "message": "token refused: reused"}, status=401
            )
        self.refreshes += 1
        return web.json_response(self._pair())

    async def logout(self, request: web.Request) -> web.Response:
        self.logouts.append((await request.json()).get("refresh_token"))
        return web.json_response({"sessions_ended": 1})

    async def admin(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive_json(timeout=5)
        self.auths.append(first.get("token"))
        if first.get("token") != self.access:
            await ws.close(code=4004, message=b"token refused")
            return ws
        if not self.commands:
            await ws.close(code=4013, message=b"no admin permission")
            return ws
        await ws.send_json(
            {"op": "authed", "username": "root", "role": "admin", "commands": self.commands}
        )
        self.sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                cmd = msg.json()
                self.received.append(str(cmd.get("cmd")))
                if cmd.get("cmd") == "hang":  # never answered: the client must not wait forever
                    continue
                await ws.send_json(self._answer(cmd))
        finally:
            self.sockets.discard(ws)
        return ws

    def _answer(self, cmd: dict[str, Any]) -> dict[str, Any]:
        ident, name, args = cmd.get("id"), cmd.get("cmd"), cmd.get("args", {})
        if self.limited > 0:
            self.limited -= 1
            return {
                "op": "result",
                "id": ident,
                "ok": False,
                "error": {"code": "rate_limited", "message": "20 commands/s"},
            }
        if name == "players.list":
            data: dict[str, Any] = {
                "players": [{"net_id": 7, "name": "Big Ana", "player_id": "p7"}]
            }
        elif name == "echo":
            data = args
        elif name == "subscribe":
            self.subscribed.append(list(args.get("topics", [])))
            data = {"topics": args.get("topics", [])}
        else:
            return {
                "op": "result",
                "id": ident,
                "ok": False,
                "error": {"code": "unknown_command", "message": f"no command {name}"},
            }
        return {"op": "result", "id": ident, "ok": True, "data": data}

    async def push(self, topic: str, data: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            await ws.send_json({"op": "push", "topic": topic, "data": data})

    async def drop(self, code: int, reason: str = "") -> None:
        for ws in list(self.sockets):
            await ws.close(code=code, message=reason.encode())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/auth/login", self.login)
        app.router.add_post("/auth/refresh", self.refresh_)
        app.router.add_post("/auth/logout", self.logout)
        app.router.add_get("/admin", self.admin)
        return app


async def serve(fake: FakeAdmin) -> tuple[web.AppRunner, str]:
    """Start `fake` on a free loopback port; (runner to clean up, ws:// URL)."""
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"ws://127.0.0.1:{port}"
