"""Helpers for the admin console tests: accounts with roles, a raw /admin client."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.app import Server
from tests.server.test_accounts_http import login, register


async def account(srv: Server, name: str, role: str = "player") -> tuple[str, str]:
    """(account id, access token) of a new account with `role`."""
    body = await register(srv, name)
    if role != "player":
        assert srv.state.accounts is not None
        await srv.state.accounts.set_role(body["id"], role)
    return body["id"], (await login(srv, name))["access_token"]


class Admin:
    """A raw /admin client: `cmd` sends one command and returns its `result`; pushes and
    results of other commands read meanwhile are kept."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.authed: dict[str, Any] = {}
        self.pushes: list[dict[str, Any]] = []
        self.results: dict[int, dict[str, Any]] = {}
        self._next = 0

    async def read(self, timeout: float = 5.0) -> dict[str, Any]:
        msg: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if msg.get("op") == "push":
            self.pushes.append(msg)
        elif msg.get("op") == "result" and isinstance(msg.get("id"), int):
            self.results[msg["id"]] = msg
        return msg

    async def send(self, name: str, args: dict[str, Any] | None = None) -> int:
        self._next += 1
        await self.ws.send(
            orjson.dumps({"op": "cmd", "id": self._next, "cmd": name, "args": args or {}}).decode()
        )
        return self._next

    async def result(self, ref: int, timeout: float = 10.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while ref not in self.results:
            await self.read(max(0.01, end - loop.time()))
        return self.results.pop(ref)

    async def cmd(self, _cmd: str, /, **args: Any) -> dict[str, Any]:
        return await self.result(await self.send(_cmd, args))

    async def ok(self, _cmd: str, /, **args: Any) -> dict[str, Any]:
        got = await self.cmd(_cmd, **args)
        assert got["ok"], got
        data: dict[str, Any] = got["data"]
        return data

    async def push(self, topic: str, timeout: float = 5.0) -> dict[str, Any]:
        """The oldest push of `topic` not yet taken (waiting for one if none)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            for i, p in enumerate(self.pushes):
                if p["topic"] == topic:
                    return self.pushes.pop(i)
            await self.read(max(0.01, end - loop.time()))

    async def closed_code(self, timeout: float = 10.0) -> int | None:
        try:
            while True:
                await self.read(timeout)
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None


def admin_url(srv: Server) -> str:
    return f"ws://127.0.0.1:{srv.port}/admin"


async def open_admin(srv: Server, token: str | None, *, expect: bool = True) -> Admin:
    ws = await connect(admin_url(srv), compression=None, open_timeout=5)
    a = Admin(ws)
    if token is not None:
        await ws.send(orjson.dumps({"op": "auth", "token": token}).decode())
    if expect:
        a.authed = await a.read()
        assert a.authed.get("op") == "authed", a.authed
    return a
