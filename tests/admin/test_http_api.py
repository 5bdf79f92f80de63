"""The HTTP admin API (server/admin/http.py) over real TCP: the same commands, permissions
and audit as the console; its OpenAPI file is generated from the registry and a schemathesis
run against the live server checks the server answers as the file says."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings

from protocol.catalogue import CloseCode
from server.admin.http import OPENAPI_FILE
from server.admin.openapi import render
from tests.admin.support import account
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH, call
from tests.server.test_auth_join import join


def test_the_openapi_file_is_generated_from_the_registry() -> None:
    assert OPENAPI_FILE.read_bytes() == render(), "run: python -m server.admin.openapi"


async def test_commands_over_http(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Franklin")
    _, mod = await account(srv, "Moira", "moderator")
    p = await join(srv, "Franklin", ptoken)

    status, body, headers = await call(srv, "GET", "/admin/openapi.json")
    assert status == 200 and body["openapi"] == "3.1.0"
    assert orjson.loads(OPENAPI_FILE.read_bytes()) == body

    status, body, headers = await call(srv, "POST", "/admin/api/players.list", {})
    assert (status, body["error"]["code"]) == (401, "token_refused")
    assert headers.get("WWW-Authenticate") == "Bearer"
    status, body, _ = await call(srv, "POST", "/admin/api/players.list", {}, token=ptoken)
    assert (status, body["error"]["code"]) == (403, "forbidden")

    status, body, _ = await call(srv, "GET", "/admin/api/players", token=mod)
    assert status == 200 and [q["player_id"] for q in body["data"]["players"]] == [pid]
    status, body, _ = await call(
        srv, "POST", "/admin/api/players.ban", {"player": pid, "reason": "x"}, token=mod
    )
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body, _ = await call(srv, "POST", "/admin/api/players.kick", {"player": 5.5}, token=mod)
    assert (status, body["error"]["code"]) == (400, "bad_args")
    status, body, _ = await call(srv, "POST", "/admin/api/nope", {}, token=mod)
    assert (status, body["error"]["code"]) == (404, "unknown_command")
    status, body, _ = await call(srv, "POST", "/admin/api/subscribe", {"topics": []}, token=mod)
    assert status == 404  # needs a socket
    status, body, _ = await call(
        srv, "POST", "/admin/api/players.kick", {"player": "nobody"}, token=mod
    )
    assert (status, body["error"]["code"]) == (404, "not_found")

    status, body, _ = await call(
        srv, "POST", "/admin/api/players.kick", {"player": "Franklin", "reason": "bot"}, token=mod
    )
    assert (status, body) == (200, {"ok": True, "data": {"kicked": True, "player_id": pid}})
    assert await p.closed_code() == CloseCode.KICKED
    _, admin = await account(srv, "Lester", "admin")
    status, body, _ = await call(
        srv, "GET", "/admin/api/audit?limit=10&action=players.kick", token=admin
    )
    assert status == 200
    # Newest first; the attempt on a player not online is audited too.
    assert [(r["actor"], r["target"], r["result"]) for r in body["data"]["rows"]] == [
        ("moira", pid, "ok"),
        ("moira", None, "error: not_found"),
    ]
    denied = [
        r
        for r in (await call(srv, "GET", "/admin/api/audit", token=admin))[1]["data"]["rows"]
        if r["action"] == "players.ban"
    ]
    assert [r["result"] for r in denied] == ["denied"]


SKIP = {"/admin/api/server.restart"}  # would drain the server under test


def _schemathesis(base_url: str, token: str, examples: int) -> list[str]:
    import schemathesis

    schema = schemathesis.openapi.from_dict(orjson.loads(OPENAPI_FILE.read_bytes()))
    seen: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in SKIP:
            continue
        seen.append(f"{op.method.upper()} {op.path}")

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )

        check()
    return seen


async def test_the_live_api_matches_its_openapi_file(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    assert srv.state.admin is not None
    srv.state.admin.rate_per_second = 10_000  # the run is a burst by design
    _, ptoken = await account(srv, "Trevor")
    p = await join(srv, "Trevor", ptoken)
    _, owner = await account(srv, "Root", "owner")
    seen = await asyncio.to_thread(_schemathesis, f"http://127.0.0.1:{srv.port}", owner, 8)
    assert "POST /admin/api/players.kick" in seen and "GET /admin/api/audit" in seen
    assert srv.state.tick_due is not None and not srv.state.draining
    await p.ws.close()
