"""One `/admin` WebSocket session, behind the transport (server/net/connection.py hands it
every text or binary message of a connection on /admin; SPEC §19).

First message within HANDSHAKE_TIMEOUT: `{"op":"auth","token":...}`; anything else, or a
binary frame at any time, closes with 4003. The token is checked by `AdminService
.authenticate` (4004 refused, 4013 no admin permission); then `authed` lists what this
principal may run. Commands (`{"op":"cmd","id","cmd","args"}`) run concurrently (at most
`IN_FLIGHT` per session, more are answered `rate_limited`), each answered with its `id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from protocol.catalogue import CloseCode
from server.admin.registry import AdminError, Principal

if TYPE_CHECKING:
    from server.admin.service import AdminService

log = logging.getLogger("ganggpt.admin")

IN_FLIGHT = 8
EARLY_MAX = 16  # commands sent before `authed`, kept until the token is checked


class AdminClient(Protocol):
    """What the session needs from its connection."""

    peer: str

    @property
    def closing(self) -> bool: ...

    def send_raw_text(self, data: bytes) -> None: ...

    def close(self, code: CloseCode, reason: str = "", *, keep_for_resume: bool = True) -> None: ...

    def admin_authed(self) -> bool:
        """The token was accepted: the connection moves to the ADMIN phase (False if gone)."""
        ...


def _dumps(msg: dict[str, Any]) -> bytes:
    return orjson.dumps(msg, default=str)


class AdminSession:
    def __init__(self, admin: AdminService, client: AdminClient) -> None:
        self.admin = admin
        self.client = client
        self.principal: Principal | None = None
        self.topics: set[str] = set()
        self._auth: asyncio.Task[None] | None = None
        self._early: deque[dict[str, Any]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._over = False
        admin.opened(self)

    # --- from the transport ---

    def on_message(self, is_text: bool, data: bytes) -> None:
        if self._over:
            return
        if not is_text:
            self.close(CloseCode.BAD_HELLO, "the admin console speaks JSON text frames only")
            return
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            msg = None
        if self.principal is None:
            self._before_auth(msg)
            return
        if not isinstance(msg, dict) or msg.get("op") != "cmd":
            self._answer(None, error=AdminError("bad_args", 'expected {"op":"cmd",...}'))
            return
        self._command(msg)

    def ended(self) -> None:
        """The connection is closing or gone: stop everything of this session."""
        if self._over:
            return
        self._over = True
        for t in (*self._tasks, *(() if self._auth is None else (self._auth,))):
            t.cancel()
        self._tasks.clear()
        self.topics.clear()
        self.admin.closed(self)

    # --- auth ---

    def _before_auth(self, msg: Any) -> None:
        if self._auth is not None:
            if isinstance(msg, dict) and msg.get("op") == "cmd" and len(self._early) < EARLY_MAX:
                self._early.append(msg)
                return
            self.close(CloseCode.BAD_HELLO, "wait for `authed`")
            return
        if (
            not isinstance(msg, dict)
            or msg.get("op") != "auth"
            or not isinstance(msg.get("token"), str)
        ):
            self.close(CloseCode.BAD_HELLO, 'the first message must be {"op":"auth","token":...}')
            return
        self._auth = asyncio.get_running_loop().create_task(self._authenticate(msg["token"]))

    async def _authenticate(self, token: str) -> None:
        try:
            got = await self.admin.authenticate(token)
        except Exception as err:
            log.warning("%s: admin auth failed: %r", self.client.peer, err)
            self.close(CloseCode.INTERNAL_ERROR, "could not check the token; retry")
            return
        if not isinstance(got, Principal):
            self.admin.state.metrics.connections_refused.labels(reason="admin_auth").inc()
            self.close(got.close, got.message)
            return
        if self._over or not self.client.admin_authed():
            return
        self.principal = got
        self._send(
            {
                "op": "authed",
                "sub": got.sub,
                "username": got.username,
                "role": got.role,
                "permissions": sorted(got.grants.granted),
                "commands": self.admin.allowed(got),
            }
        )
        while self._early and not self._over:
            self._command(self._early.popleft())

    # --- commands ---

    def _command(self, msg: dict[str, Any]) -> None:
        ref = msg.get("id")
        if not isinstance(ref, int) or isinstance(ref, bool):
            self._answer(None, error=AdminError("bad_args", "`id` must be an integer"))
            return
        name = msg.get("cmd")
        if not isinstance(name, str):
            self._answer(ref, error=AdminError("bad_args", "`cmd` must be a string"))
            return
        if len(self._tasks) >= IN_FLIGHT:
            self._answer(ref, error=AdminError("rate_limited", f"over {IN_FLIGHT} in flight"))
            return
        task = asyncio.get_running_loop().create_task(self._run(ref, name, msg.get("args")))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, ref: int, name: str, args: Any) -> None:
        assert self.principal is not None
        try:
            data = await self.admin.run(self.principal, name, args, session=self)
        except AdminError as err:
            self._answer(ref, error=err)
            return
        self._answer(ref, data=data)

    def _answer(
        self,
        ref: int | None,
        *,
        data: dict[str, Any] | None = None,
        error: AdminError | None = None,
    ) -> None:
        if error is not None:
            msg = {
                "op": "result",
                "id": ref,
                "ok": False,
                "error": {"code": error.code, "message": error.message},
            }
        else:
            msg = {"op": "result", "id": ref, "ok": True, "data": data or {}}
        self._send(msg)

    # --- to the client ---

    def push(self, topic: str, data: dict[str, Any]) -> None:
        self._send({"op": "push", "topic": topic, "data": data})

    def _send(self, msg: dict[str, Any]) -> None:
        if not self._over and not self.client.closing:
            self.client.send_raw_text(_dumps(msg))

    def close(self, code: CloseCode, reason: str) -> None:
        self.client.close(code, reason, keep_for_resume=False)
        self.ended()
