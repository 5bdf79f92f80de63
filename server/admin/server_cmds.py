"""Server-wide commands: announce, restart (warnings, then the graceful drain), metrics, the
event log, the audit log, and the session's own commands (help, subscribe, unsubscribe)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from protocol import control
from server.admin.registry import AdminError, Ctx, command
from server.admin.schema import LIMIT, obj, text
from server.auth.permissions import AdminPermission as P

RESTART_WARNINGS = (60, 30, 10)  # seconds before a scheduled restart when players are told
RESTART_MAX = 24 * 3600


def announce_to_all(ctx: Ctx, message: str, **extra: Any) -> int:
    st = ctx.state
    return st.game.delivery.to_players(
        list(st.players.values()),
        control.GameEvent(type="announcement", data={"text": message, **extra}),
    )


@command(
    "announce",
    P.ANNOUNCE,
    obj({"text": text(500)}, ("text",)),
    "Tell every player online (event `announcement`).",
    mutates=True,
)
async def announce(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    ctx.target = "*"
    return {"delivered": announce_to_all(ctx, args["text"], by=ctx.principal.username)}


async def _restart_after(ctx: Ctx, at: float, message: str) -> None:
    admin = ctx.admin
    loop = asyncio.get_running_loop()
    for before in RESTART_WARNINGS:
        wait = at - before - time.time()
        if wait < 0:
            continue
        await asyncio.sleep(wait)
        announce_to_all(ctx, f"{message} in {before} s", restart_in_s=before)
        admin.record("restart_warning", seconds=before)
    await asyncio.sleep(max(0.0, at - time.time()))
    admin.record("restart", by=ctx.principal.username)
    admin.restart_task = None
    admin.restart_at = None
    if admin.request_restart is not None:
        loop.call_soon(admin.request_restart)


@command(
    "server.restart",
    P.SERVER_RESTART,
    obj(
        {"in_s": {"type": "integer", "minimum": 1, "maximum": RESTART_MAX}, "message": text(200)},
        ("in_s",),
    ),
    "Restart in `in_s` seconds: players are warned at 60, 30 and 10 s, then the server drains"
    " (every client gets `reconnect` and close 1012) and exits for its supervisor to restart.",
    mutates=True,
)
async def server_restart(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    admin = ctx.admin
    if admin.request_restart is None:
        raise AdminError("failed", "this server cannot be restarted from the console")
    if admin.restart_task is not None:
        admin.restart_task.cancel()
    at = time.time() + int(args["in_s"])
    message = args.get("message") or "The server restarts"
    ctx.target = "server"
    announce_to_all(ctx, f"{message} in {int(args['in_s'])} s", restart_in_s=int(args["in_s"]))
    admin.restart_at = at
    admin.restart_task = asyncio.get_running_loop().create_task(_restart_after(ctx, at, message))
    return {"at": at}


@command(
    "server.restart_cancel",
    P.SERVER_RESTART,
    obj(),
    "Cancel a scheduled restart (players are told).",
    mutates=True,
)
async def server_restart_cancel(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    admin = ctx.admin
    ctx.target = "server"
    task, admin.restart_task, admin.restart_at = admin.restart_task, None, None
    if task is None:
        return {"cancelled": False}
    task.cancel()
    announce_to_all(ctx, "The scheduled restart is cancelled")
    return {"cancelled": True}


@command("server.metrics", P.SERVER_METRICS, obj(), "The figures of the `metrics` push, now.")
async def server_metrics(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return ctx.admin.metrics.sample()


@command(
    "logs.tail",
    P.LOGS_TAIL,
    obj({"n": LIMIT}),
    "The last `n` (default 50) game and admin events, oldest first.",
)
async def logs_tail(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return {"events": ctx.admin.log.last(int(args.get("n", 50)))}


@command(
    "audit.list",
    P.AUDIT_READ,
    obj({"limit": LIMIT, "actor": text(100), "action": text(100)}),
    "Audit rows, newest first, optionally of one actor (username) and/or one action.",
)
async def audit_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    limit = int(args.get("limit", 100))
    action = args.get("action")
    fetch = limit if action is None else min(10 * limit, 5000)
    rows = await ctx.state.persistence.repos.audit.recent(fetch, actor=args.get("actor"))
    out = []
    for r in rows:
        if action is not None and r.action != action:
            continue
        out.append(
            {
                "id": r.entry_id,
                "at": r.created_at,
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "args": r.details.get("args", r.details),
                "result": r.result,
            }
        )
        if len(out) >= limit:
            break
    return {"rows": out}


TOPICS_ARG = obj(
    {
        "topics": {
            "type": "array",
            "items": {"type": "string", "enum": ["metrics", "events", "players"]},
            "maxItems": 3,
        }
    },
    ("topics",),
)


@command(
    "subscribe",
    None,
    TOPICS_ARG,
    "Receive pushes of these topics on this socket.",
    ws_only=True,
)
async def subscribe(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    if session is None:
        raise AdminError("unknown_command", "subscribe needs the WebSocket console")
    session.topics.update(args["topics"])
    ctx.admin.subscribed(session)
    return {"topics": sorted(session.topics)}


@command(
    "unsubscribe",
    None,
    TOPICS_ARG,
    "Stop pushes of these topics.",
    ws_only=True,
)
async def unsubscribe(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    if session is None:
        raise AdminError("unknown_command", "unsubscribe needs the WebSocket console")
    session.topics.difference_update(args["topics"])
    ctx.admin.subscribed(session)
    return {"topics": sorted(session.topics)}


@command("help", None, obj(), "The commands this principal may run, with their arguments.")
async def help_(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = ctx.principal
    return {
        "commands": [
            {"name": c.name, "args": c.args, "permission": c.permission, "summary": c.summary}
            for c in sorted(ctx.admin.commands.values(), key=lambda c: c.name)
            if p.may(c.permission) and not (ctx.session is None and c.ws_only)
        ]
    }
