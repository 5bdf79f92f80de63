"""An admin connection: log in over HTTP, open `/admin` with the access token, run commands,
receive pushes, keep the token fresh and the socket up.

    async with AdminSession("ws://127.0.0.1:22005", "ana", password) as admin:
        players = await admin.call("players.list")

Why the token is refreshed ahead of time: access tokens live for minutes, and the server may
end an admin socket whose token lapsed; the refresh token rotates on every use, so only the
newest one is kept. Tokens and the password live in this object only: they are never logged,
printed or put in an exception's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger("client_sdk.admin")

AUTH_FAILED = 4004
FORBIDDEN = 4013
DRAINING = 1012
REFRESH_AHEAD = 0.25  # refresh when a quarter of the token's life is left
HTTP_TIMEOUT = 10.0
RATE_PAUSE = 0.25  # seconds before sending a rate-limited command again


class AdminError(Exception):
    """Something the operator must read: a refused login, a lost session, a failed command."""


class LoginFailed(AdminError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SessionEnded(AdminError):
    """The server ended the admin session for good (token revoked, permission lost)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CommandFailed(AdminError):
    """The server answered `ok: false`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class _Tokens:
    access: str
    refresh: str
    expires_at: float  # monotonic
    lifetime: float

    def __repr__(self) -> str:  # never show the secrets, even in a debugger or a traceback
        return f"_Tokens(expires_in={self.expires_at - time.monotonic():.0f}s)"


def endpoints(url: str) -> tuple[str, str]:
    """`ws://host:port` (any path) -> (HTTP base, admin websocket URL)."""
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "http", "https"):
        raise AdminError(f"--url must start with ws://, wss://, http:// or https://, not {url!r}")
    if not parts.netloc:
        raise AdminError(f"--url has no host: {url!r}")
    secure = scheme in ("wss", "https")
    http = urlunsplit(("https" if secure else "http", parts.netloc, "", "", ""))
    ws = urlunsplit(("wss" if secure else "ws", parts.netloc, "/admin", "", ""))
    return http, ws


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        data = {}
    return status, data if isinstance(data, dict) else {}


def _refusal(status: int, data: dict[str, Any]) -> LoginFailed:
    code = str(data.get("error", "http_error"))
    message = str(data.get("message", f"HTTP {status}"))
    if code == "throttled" and data.get("retry_after") is not None:
        message += f" (retry in {data['retry_after']} s)"
    if code == "banned":
        until = data.get("until")
        message += " (for good)" if until is None else f" (until {time.ctime(float(until))})"
    return LoginFailed(status, code, message)


Push = Callable[[str, dict[str, Any]], None]
Status = Callable[[str], None]


class AdminSession:
    """One operator's session. `call` waits for the socket while it reconnects."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        on_push: Push | None = None,
        on_status: Status | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.http_base, self.ws_url = endpoints(url)
        self.username = username
        self._password = password
        self._on_push = on_push or (lambda topic, data: None)
        self._on_status = on_status or (lambda text: None)
        self._connect_timeout = connect_timeout
        self._tokens: _Tokens | None = None
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._topics: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._ended: AdminError | None = None
        self._closing = False
        self.authed: dict[str, Any] = {}
        self.refreshes = 0  # token rotations so far (observability, tests)

    # --- public -------------------------------------------------------------------------------

    @property
    def commands(self) -> list[str]:
        """The wire commands the server says this principal may run."""
        return [str(c) for c in self.authed.get("commands", [])]

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def ended(self) -> AdminError | None:
        """Why the session is over for good (revoked, permission withdrawn), or None."""
        return self._ended

    @property
    def topics(self) -> set[str]:
        return set(self._topics)

    async def start(self) -> None:
        """Log in and open the admin socket; raises `AdminError` with the server's reason."""
        await self._login()
        ws = await self._open()
        self._tasks = [
            asyncio.create_task(self._keep_connected(ws), name="admin-socket"),
            asyncio.create_task(self._keep_fresh(), name="admin-refresh"),
        ]

    async def call(
        self, cmd: str, args: dict[str, Any] | None = None, *, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Run one command; its `data`, or `CommandFailed` with the server's code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._ended is not None:
                raise self._ended
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise AdminError("not connected to the server (still retrying)") from None
            ws = self._ws
            if ws is None:
                continue
            self._next_id += 1
            ident = self._next_id
            fut: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[ident] = fut
            try:
                await ws.send(
                    orjson.dumps(
                        {"op": "cmd", "id": ident, "cmd": cmd, "args": args or {}}
                    ).decode()
                )
                answer = await asyncio.wait_for(fut, max(0.1, deadline - loop.time()))
            except ConnectionClosed:
                continue  # the reader reconnects; send again on the new socket
            except TimeoutError:
                raise AdminError(f"no answer to {cmd} within {timeout:.0f} s") from None
            finally:
                self._pending.pop(ident, None)
            if answer.get("ok"):
                data = answer.get("data")
                return data if isinstance(data, dict) else {"value": data}
            error = answer.get("error") or {}
            if error.get("code") == "rate_limited" and deadline - loop.time() > RATE_PAUSE:
                # Refused before it ran (a script outpacing the per-account budget): try again.
                await asyncio.sleep(RATE_PAUSE)
                continue
            raise CommandFailed(
                str(error.get("code", "failed")), str(error.get("message", "command failed"))
            )

    async def subscribe(self, topics: list[str]) -> list[str]:
        data = await self.call("subscribe", {"topics": topics})
        self._topics.update(topics)
        return [str(t) for t in data.get("topics", topics)]

    async def unsubscribe(self, topics: list[str]) -> list[str]:
        data = await self.call("unsubscribe", {"topics": topics})
        self._topics.difference_update(topics)
        return [str(t) for t in data.get("topics", [])]

    async def close(self) -> None:
        """Close the socket and end the login session on the server (revokes the refresh token)."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 3)
        if self._tokens is not None:
            tokens, self._tokens = self._tokens, None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    _post, self.http_base + "/auth/logout", {"refresh_token": tokens.refresh}
                )

    async def __aenter__(self) -> AdminSession:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- tokens -------------------------------------------------------------------------------

    def _store(self, data: dict[str, Any]) -> None:
        try:
            lifetime = float(data.get("expires_in", 60))
            self._tokens = _Tokens(
                str(data["access_token"]),
                str(data["refresh_token"]),
                time.monotonic() + lifetime,
                lifetime,
            )
        except (KeyError, TypeError, ValueError):
            raise AdminError("the server's login answer has no tokens") from None

    async def _login(self) -> None:
        try:
            status, data = await asyncio.to_thread(
                _post,
                self.http_base + "/auth/login",
                {"username": self.username, "password": self._password},
            )
        except OSError as err:
            raise AdminError(f"cannot reach {self.http_base}: {err}") from None
        if status != 200:
            raise _refusal(status, data)
        self._store(data)

    async def _refresh(self) -> bool:
        """Rotate the tokens; False if the server refused (the session is over)."""
        if self._tokens is None:
            return False
        try:
            status, data = await asyncio.to_thread(
                _post, self.http_base + "/auth/refresh", {"refresh_token": self._tokens.refresh}
            )
        except OSError:
            return True  # unreachable for now; the socket loop retries and we try again
        if status == 200:
            self._store(data)
            self.refreshes += 1
            return True
        if status in (400, 401, 403):
            self._end(SessionEnded(f"the server ended the login session: {_refusal(status, data)}"))
            return False
        return True

    async def _keep_fresh(self) -> None:
        while not self._closing and self._ended is None:
            tokens = self._tokens
            if tokens is None:
                return
            wait = tokens.expires_at - tokens.lifetime * REFRESH_AHEAD - time.monotonic()
            await asyncio.sleep(max(1.0, wait))
            if self._tokens is tokens and not await self._refresh():
                return

    # --- the socket ---------------------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        """Connect and authenticate; raises AdminError (SessionEnded when it is final)."""
        assert self._tokens is not None
        try:
            ws = await ws_connect(
                self.ws_url,
                open_timeout=self._connect_timeout,
                compression=None,
                max_size=2**22,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as err:
            raise AdminError(f"cannot open {self.ws_url}: {err}") from None
        try:
            await ws.send(orjson.dumps({"op": "auth", "token": self._tokens.access}).decode())
            while True:
                raw = await asyncio.wait_for(ws.recv(), self._connect_timeout)
                msg = orjson.loads(raw)
                if isinstance(msg, dict) and msg.get("op") == "authed":
                    break
        except ConnectionClosed as err:
            code = err.rcvd.code if err.rcvd else None
            reason = err.rcvd.reason if err.rcvd else ""
            if code == FORBIDDEN:
                raise SessionEnded(
                    f"account {self.username!r} may not use the admin console (4013 {reason})",
                    code,
                ) from None
            if code == AUTH_FAILED:
                raise SessionEnded(f"the server refused the token (4004 {reason})", code) from None
            raise AdminError(f"the server closed the admin socket ({code} {reason})") from None
        except (TimeoutError, orjson.JSONDecodeError):
            await ws.close()
            raise AdminError("the server did not confirm the admin login") from None
        self.authed = msg
        self._ws = ws
        self._ready.set()
        return ws

    async def _keep_connected(self, ws: ClientConnection) -> None:
        attempt = 0
        while True:
            code, reason = await self._read(ws)
            self._ready.clear()
            self._ws = None
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionClosed(None, None))
            if self._closing:
                return
            if code == FORBIDDEN:
                self._end(SessionEnded(f"admin permission withdrawn (4013 {reason})", code))
                return
            if code == AUTH_FAILED and not await self._refresh():
                return
            self._on_status(
                "server restarting, reconnecting..."
                if code == DRAINING
                else f"connection lost ({code} {reason}), reconnecting..."
            )
            while True:
                attempt += 1
                await asyncio.sleep(min(10.0, 0.25 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1))
                try:
                    ws = await self._open()
                except SessionEnded as err:
                    if err.code == AUTH_FAILED and await self._refresh():
                        continue
                    self._end(err)
                    return
                except AdminError:
                    continue
                attempt = 0
                if self._topics:
                    with contextlib.suppress(Exception):
                        await ws.send(
                            orjson.dumps(
                                {
                                    "op": "cmd",
                                    "id": 0,
                                    "cmd": "subscribe",
                                    "args": {"topics": sorted(self._topics)},
                                }
                            ).decode()
                        )
                self._on_status("reconnected")
                break

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str]:
        try:
            async for raw in ws:
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(msg, dict):
                    continue
                op = msg.get("op")
                if op == "result":
                    fut = self._pending.get(msg.get("id", -1))
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif op == "push":
                    data = msg.get("data")
                    self._on_push(
                        str(msg.get("topic", "?")), data if isinstance(data, dict) else {}
                    )
        except ConnectionClosed:
            pass
        return (ws.close_code, ws.close_reason or "")

    def _end(self, err: AdminError) -> None:
        self._ended = err
        self._ready.set()  # wake waiting calls so they raise
        self._on_status(str(err))
