"""The HTTP admin API's OpenAPI 3.1 description, generated from the command registry so it
cannot drift from what the server checks. `python -m server.admin.openapi` rewrites
server/admin/openapi.json (committed; tests/admin/test_http_api.py fails when it is stale).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from server.admin.http import OPENAPI_FILE
from server.admin.registry import ERROR_CODES, HTTP_STATUS, Command, load

ERROR = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [*ERROR_CODES, "token_refused"]},
                "message": {"type": "string"},
            },
        },
    },
}

STATUS_TEXT = {
    400: "bad_args: the arguments do not match the schema",
    401: "token_refused: no, a bad, expired or revoked access token",
    403: "forbidden: the token lacks the command's permission (or any admin permission)",
    404: "not_found: the player, account, NPC or faction does not exist",
    409: "failed: the command could not be done (e.g. guests have no account to ban)",
    429: "rate_limited: too many commands a second (Retry-After)",
}


def _errors() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in sorted(set(HTTP_STATUS.values()) | {401}):
        out[str(status)] = {
            "description": STATUS_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return out


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": "done",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["ok", "data"],
                    "properties": {"ok": {"const": True}, "data": result},
                }
            }
        },
    }


def _operation(cmd: Command) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": cmd.name.replace(".", "_"),
        "summary": cmd.summary,
        "tags": [cmd.name.split(".", 1)[0]],
        "requestBody": {
            "required": bool(cmd.args.get("required")),
            "content": {"application/json": {"schema": cmd.args}},
        },
        "responses": {"200": _ok(cmd.result), **_errors()},
    }
    if cmd.permission is not None:
        op["description"] = f"Needs the `{cmd.permission}` permission."
        op["x-permission"] = cmd.permission
    if cmd.mutates:
        op["x-audited"] = True
    return op


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def build() -> dict[str, Any]:
    commands = load()
    paths: dict[str, Any] = {}
    for name in sorted(commands):
        cmd = commands[name]
        if not cmd.ws_only:
            paths[f"/admin/api/{name}"] = {"post": _operation(cmd)}
    audit = commands["audit.list"].args["properties"]
    players_get = _operation(commands["players.list"])
    audit_get = _operation(commands["audit.list"])
    del players_get["requestBody"], audit_get["requestBody"]
    paths["/admin/api/players"] = {"get": {**players_get, "operationId": "get_players"}}
    paths["/admin/api/audit"] = {
        "get": {
            **audit_get,
            "operationId": "get_audit",
            "parameters": [_query(k, audit[k]) for k in ("limit", "actor", "action")],
        }
    }
    paths["/admin/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This description.",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GangGPT admin API",
            "version": "1",
            "description": "The admin console's commands over HTTP (protocol/SPEC.md §15.2 and"
            " §19). Every state-changing command (x-audited) is in the audit log before it is"
            " answered. Log in with POST /auth/login and send the access token as a Bearer"
            " token.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
    }


def render() -> bytes:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    OPENAPI_FILE.write_bytes(render())
    print(f"wrote {OPENAPI_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
