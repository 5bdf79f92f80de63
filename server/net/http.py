"""Plain HTTP on the game port: `/health` and `/metrics`.

Served from the same listener as the WebSocket so an operator (or Kubernetes) needs one port.
Both are built from in-memory state only: a probe must never wait on the database.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import shutil
import time
from typing import Any

import orjson
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from config.secrets import redact_obj
from server.state import ServerState


def _response(status: int, reason: str, body: bytes, ctype: str) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", ctype),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, reason, headers, body)


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def health(state: ServerState) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) in the seed's shape: 200 healthy or degraded, 503 unhealthy."""
    now = time.time()
    checks: list[dict[str, Any]] = []
    p = state.persistence.health()
    for name in ("database", "redis"):
        d = dict(p.get(name, {"status": "ok"}))
        checks.append({"name": name, "status": d.pop("status", "ok"), "details": d})
    checks.append(state.game.talks.ai.health())
    checks.append({"name": "memory", "status": "ok", "details": {"rss_mb": round(_rss_mb(), 1)}})
    try:
        disk = shutil.disk_usage(os.path.dirname(os.path.abspath(state.config.sqlite_path)) or ".")
        free = disk.free / disk.total
        checks.append(
            {
                "name": "disk",
                "status": "ok" if free > 0.02 else "degraded",
                "details": {"free_ratio": round(free, 3)},
            }
        )
    except OSError:
        checks.append({"name": "disk", "status": "ok", "details": {"free_ratio": None}})
    stalled = state.last_tick_at and now - state.last_tick_at > 2.0
    tick_status = "down" if stalled or state.draining else "ok"
    checks.append(
        {
            "name": "tick",
            "status": tick_status,
            "details": {
                "tick": state.world.tick,
                "seconds_since_tick": round(now - state.last_tick_at, 3)
                if state.last_tick_at
                else None,
                "players": state.player_count,
                "draining": state.draining,
            },
        }
    )
    statuses = {c["status"] for c in checks}
    if "down" in statuses and (
        tick_status == "down" or "database" in {c["name"] for c in checks if c["status"] == "down"}
    ):
        overall = "unhealthy"
    elif statuses - {"ok"}:
        overall = "degraded"
    else:
        overall = "healthy"
    body = {
        "status": overall,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "server": state.config.server_name,
        "uptime_s": round(now - state.started_at, 1),
        "checks": checks,
    }
    # A driver's error text can quote a URL with its password: nothing leaves unredacted.
    body = redact_obj(body, state.config.secrets())
    return (503 if overall == "unhealthy" else 200), body


OPS_PATHS = frozenset({"/health", "/metrics"})  # on the game port unless METRICS_PORT moves them


def route(state: ServerState, request: Request, *, ops: bool | None = None) -> Response | None:
    """The HTTP response for a plain request, or None if it is a WebSocket upgrade.

    `ops`: whether /health and /metrics are served here (default: on the game port unless
    they have their own listener, server.net.ops)."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    if ops is None:
        ops = not state.config.metrics_separate
    path = request.path.split("?", 1)[0]
    if path not in OPS_PATHS or not ops:
        if path == "/ws":
            response = plain_response(426, "Upgrade Required", "/ws is a WebSocket endpoint\n")
            response.headers["Upgrade"] = "websocket"
            return response
        text = b"GangGPT Server: connect a WebSocket to /ws.\n"
        return _response(404, "Not Found", text, "text/plain; charset=utf-8")
    if path == "/health":
        status, body = health(state)
        return _response(
            status,
            "OK" if status == 200 else "Service Unavailable",
            orjson.dumps(body),
            "application/json",
        )
    return _response(200, "OK", state.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")


def too_large(limit: int) -> bytes:
    """The answer to a request head over HTTP_REQUEST_MAX bytes, ready to write."""
    text = f"Request head over {limit} bytes.\n".encode()
    return _response(
        431, "Request Header Fields Too Large", text, "text/plain; charset=utf-8"
    ).serialize()


def plain_response(status: int, reason: str, text: str) -> Response:
    """A short text/plain answer (refused upgrades, unknown paths)."""
    return _response(status, reason, text.encode(), "text/plain; charset=utf-8")
