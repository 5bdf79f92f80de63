"""The HTTP admin API on the game port (SPEC §15.2): the console's commands for scripts,
Discord bots and anti-cheats, through the same `AdminService.run` (permissions, arguments,
audit) as the `/admin` socket.

    POST /admin/api/<command>   Authorization: Bearer <access JWT>, body = the command's args
    GET  /admin/api/players     = players.list
    GET  /admin/api/audit       = audit.list (?limit=&actor=&action=)
    GET  /admin/openapi.json    the OpenAPI 3.1 description (no token needed)

200 `{"ok": true, "data": {...}}`; errors `{"ok": false, "error": {"code", "message"}}` with
400 bad_args, 401 token_refused, 403 forbidden, 404 unknown_command/not_found, 405, 409
failed, 415, 429 rate_limited.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from server.admin.registry import HTTP_STATUS, AdminError, Principal
from server.net.plain import PlainRequest, PlainResponse

if TYPE_CHECKING:
    from server.state import ServerState

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
API = "/admin/api/"
GET_ALIASES = {"players": "players.list", "audit": "audit.list"}


def _error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> PlainResponse:
    return PlainResponse.json(
        status, {"ok": False, "error": {"code": code, "message": message}}, headers
    )


def _query_args(query: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=False):
        out[k] = int(v) if k == "limit" and v.lstrip("-").isdigit() and len(v) < 10 else v
    return out


async def handle(state: ServerState, request: PlainRequest) -> PlainResponse:
    admin = state.admin
    if admin is None:
        return _error(404, "unknown_command", "the admin API is not enabled on this server")
    path = request.path
    if path == "/admin/openapi.json":
        if request.method != "GET":
            return _error(405, "method_not_allowed", "GET only", (("Allow", "GET"),))
        return PlainResponse(200, OPENAPI_FILE.read_bytes(), "application/json")
    if not path.startswith(API):
        return _error(404, "unknown_command", f"nothing at {path[:100]}")
    name = path[len(API) :]
    if request.method == "GET" and name in GET_ALIASES:
        name, args = GET_ALIASES[name], _query_args(request.query)
    elif request.method != "POST":
        allow = "GET" if name in GET_ALIASES else "POST"
        return _error(405, "method_not_allowed", f"{allow} only", (("Allow", allow),))
    else:
        args = None
    principal = await _principal(state, request)
    if isinstance(principal, PlainResponse):
        return principal
    if args is None:
        ctype = request.header("content-type").split(";", 1)[0].strip().lower()
        if request.body and ctype != "application/json":
            return _error(415, "bad_args", "send the body as application/json")
        try:
            args = orjson.loads(request.body) if request.body else {}
        except orjson.JSONDecodeError:
            return _error(400, "bad_args", "body is not valid JSON")
        if not isinstance(args, dict):
            return _error(400, "bad_args", "body must be a JSON object")
    try:
        data = await admin.run(principal, name, args, http=True)
    except AdminError as err:
        headers = (("Retry-After", "1"),) if err.code == "rate_limited" else ()
        return _error(HTTP_STATUS.get(err.code, 400), err.code, err.message, headers)
    return PlainResponse.json(200, {"ok": True, "data": data})


async def _principal(state: ServerState, request: PlainRequest) -> Principal | PlainResponse:
    assert state.admin is not None
    scheme, _, token = request.header("authorization").partition(" ")
    challenge = (("WWW-Authenticate", "Bearer"),)
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "token_refused", "send Authorization: Bearer <access token>", challenge)
    got = await state.admin.authenticate(token.strip())
    if isinstance(got, Principal):
        return got
    return _error(got.status, got.code, got.message, challenge if got.status == 401 else ())
