"""Admin commands by name: permission, argument schema, handler, whether it changes state.

A command module registers with the `command` decorator:

    @command("players.kick", AdminPermission.PLAYERS_KICK, obj({...}, ("player",)),
             "Disconnect a player (close 4011).", mutates=True)
    async def kick(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]: ...

`permission=None` is for session commands (help, subscribe) that opening the console allows.
`mutates=True` makes the service write an audit row before answering. `ws_only=True` keeps a
command off the HTTP API (subscriptions need a socket).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.admin.schema import Schema
from server.auth.permissions import Grants

if TYPE_CHECKING:
    from server.admin.service import AdminService
    from server.state import ServerState


class AdminError(Exception):
    """A command refused or failed; `code` is the contract's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ERROR_CODES = ("unknown_command", "bad_args", "forbidden", "not_found", "failed", "rate_limited")

# The HTTP API's status for each error code (SPEC §19.6).
HTTP_STATUS: dict[str, int] = {
    "unknown_command": 404,
    "bad_args": 400,
    "forbidden": 403,
    "not_found": 404,
    "failed": 409,
    "rate_limited": 429,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who runs the commands: from the access token, checked against the account."""

    sub: str
    username: str
    role: str
    sid: str
    grants: Grants
    permissions: tuple[str, ...]  # as the token carries them

    def may(self, permission: str | None) -> bool:
        return permission is None or self.grants.has(permission)


@dataclass(slots=True)
class Ctx:
    """One command's run: the server, who asked, and what the audit row will say."""

    state: ServerState
    admin: AdminService
    principal: Principal
    session: Any = None  # the WebSocket session (AdminSession) for session commands, else None
    target: str | None = None  # set by the handler: what the command acted on
    audit_id: str = ""  # the audit row's id (known before the handler runs: ban ids use it)


Handler = Callable[[Ctx, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    permission: str | None
    args: Schema
    handler: Handler
    summary: str
    mutates: bool = False
    ws_only: bool = False
    result: Schema = field(default_factory=lambda: {"type": "object"})


REGISTRY: dict[str, Command] = {}


def command(
    name: str,
    permission: str | None,
    args: Schema,
    summary: str,
    *,
    mutates: bool = False,
    ws_only: bool = False,
    result: Schema | None = None,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"admin command {name!r} registered twice")
        REGISTRY[name] = Command(
            name,
            permission,
            args,
            fn,
            summary,
            mutates,
            ws_only,
            result or {"type": "object"},
        )
        return fn

    return register


def load() -> dict[str, Command]:
    """Every command (importing the command modules registers them)."""
    from server.admin import npcs, players, server_cmds, world_cmds  # noqa: F401

    return REGISTRY
