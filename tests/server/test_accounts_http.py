"""The account endpoints over real TCP connections to a started server (server/auth/http.py,
read by server/net/api.py), and `identify()` (server/auth/hello.py) with tokens from them."""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import time
from typing import Any

import aiohttp
import jwt
import orjson

from protocol import control
from protocol.catalogue import CloseCode
from server.app import Server
from server.auth.hello import Identity, NameRejected, identify
from server.auth.permissions import Permission
from server.auth.tokens import Reason, Rejected
from tests.server.conftest import ServerFactory

SECRET = secrets.token_hex(32)
PW = "correct horse battery"
AUTH = {
    "jwt_secret": SECRET,
    "bcrypt_rounds": 10,  # config's floor: the cheapest real cost
    "login_failures_per_account": 3,
}


def url(srv: Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


async def call(
    srv: Server,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.request(method, url(srv, path), json=body, headers=headers) as r,
    ):
        data = await r.read()
        return r.status, (orjson.loads(data) if data else {}), dict(r.headers)


async def raw(srv: Server, request: bytes, *, then: bytes = b"", pause: float = 0.0) -> bytes:
    """Send `request` (and `then` after `pause`) on one socket; everything the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(request)
        await writer.drain()
        if then:
            await asyncio.sleep(pause)
            writer.write(then)
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def post(path: str, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def register(srv: Server, name: str = "Niko") -> dict[str, Any]:
    status, body, _ = await call(
        srv,
        "POST",
        "/auth/register",
        {"username": name, "email": f"{name.lower()}@example.com", "password": PW},
    )
    assert status == 201, body
    return body


async def login(srv: Server, name: str = "Niko", password: str = PW) -> dict[str, Any]:
    status, body, _ = await call(
        srv, "POST", "/auth/login", {"username": name, "password": password}
    )
    assert status == 200, body
    return body


async def test_register_login_refresh_logout(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    account = await register(srv)
    assert account["username"] == "niko" and account["display_name"] == "Niko"
    status, body, _ = await call(
        srv,
        "POST",
        "/auth/register",
        {"username": "NIKO", "email": "other@example.com", "password": PW},
    )
    assert (status, body["error"], body["field"]) == (409, "taken", "username")

    first = await login(srv)
    assert first["sub"] == account["id"] and first["token_type"] == "Bearer"
    assert Permission.PLAY_GAME in first["permissions"]
    status, me, _ = await call(srv, "GET", "/auth/me", token=first["access_token"])
    assert status == 200 and me["id"] == account["id"] and me["email"] == "niko@example.com"

    status, second, _ = await call(
        srv, "POST", "/auth/refresh", {"refresh_token": first["refresh_token"]}
    )
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    status, body, _ = await call(
        srv, "POST", "/auth/refresh", {"refresh_token": first["refresh_token"]}
    )
    assert (status, body["reason"]) == (401, "reused")  # spent: and the session ends with it

    again = await login(srv, "niko@example.com")  # by email too
    status, body, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": again["refresh_token"]}
    )
    assert (status, body) == (200, {"sessions_ended": 1})
    status, body, _ = await call(
        srv, "POST", "/auth/refresh", {"refresh_token": again["refresh_token"]}
    )
    assert (status, body["reason"]) == (401, "revoked")
    status, body, headers = await call(srv, "GET", "/auth/me", token=again["access_token"])
    assert (status, body["reason"]) == (401, "revoked") and "Bearer" in headers["WWW-Authenticate"]

    a, b = await login(srv), await login(srv)
    status, body, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": a["refresh_token"], "everywhere": True}
    )
    assert (status, body) == (200, {"sessions_ended": 2})
    status, _, _ = await call(srv, "GET", "/auth/me", token=b["access_token"])
    assert status == 401
    status, body, _ = await call(srv, "POST", "/auth/logout", {"refresh_token": "ggr1_nope"})
    assert (status, body) == (200, {"sessions_ended": 0})  # no oracle for which tokens exist


async def test_wrong_password_and_throttling(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    await register(srv)
    wrong = {"username": "niko", "password": "not the password"}
    status, body, _ = await call(srv, "POST", "/auth/login", wrong)
    assert (status, body["error"]) == (401, "bad_credentials")
    status, unknown, _ = await call(
        srv, "POST", "/auth/login", {"username": "nobody", "password": PW}
    )
    assert status == 401 and unknown == body  # the same answer whether the account exists
    for _ in range(2):
        status, _, _ = await call(srv, "POST", "/auth/login", wrong)
        assert status == 401
    status, body, headers = await call(
        srv, "POST", "/auth/login", {"username": "niko", "password": PW}
    )
    assert (status, body["error"], body["scope"]) == (429, "throttled", "account")
    assert int(headers["Retry-After"]) >= 1
    metrics = srv.state.metrics.render().decode()
    assert 'ganggpt_auth_logins_total{result="throttled"} 1.0' in metrics


async def test_a_banned_account_cannot_log_in(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    account = await register(srv)
    live = await login(srv)
    assert srv.state.accounts is not None
    ended = await srv.state.accounts.ban(account["id"], until=math.inf, reason="aimbot")
    assert ended == [live["sid"]]
    status, body, _ = await call(srv, "POST", "/auth/login", {"username": "niko", "password": PW})
    assert (status, body["error"], body["until"], body["reason"]) == (403, "banned", None, "aimbot")
    status, body, _ = await call(
        srv, "POST", "/auth/refresh", {"refresh_token": live["refresh_token"]}
    )
    assert (status, body["reason"]) == (401, "revoked")


async def test_methods_paths_bodies_and_limits(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    status, body, headers = await call(srv, "GET", "/auth/login")
    assert (status, body["error"], headers["Allow"]) == (405, "method_not_allowed", "POST")
    status, _, headers = await call(srv, "DELETE", "/auth/me")
    assert (status, headers["Allow"]) == (405, "GET")
    status, body, _ = await call(srv, "POST", "/auth/nothing", {})
    assert (status, body["error"]) == (404, "not_found")
    status, body, _ = await call(srv, "POST", "/auth/login", [1, 2])
    assert (status, body["error"]) == (400, "bad_request")
    status, body, _ = await call(srv, "POST", "/auth/login", {"username": 5, "password": PW})
    assert status == 400
    status, body, _ = await call(
        srv, "POST", "/auth/register", {"username": "ab", "email": "x@example.com", "password": PW}
    )
    assert (status, body["field"], body["reason"]) == (400, "username", "too_short")

    answer = await raw(
        srv, post("/auth/login", b"username=niko", "application/x-www-form-urlencoded")
    )
    assert answer.startswith(b"HTTP/1.1 415 ")
    answer = await raw(srv, post("/auth/login", b"{not json"))
    assert answer.startswith(b"HTTP/1.1 400 ")
    big = b'{"username": "' + b"x" * 9000 + b'", "password": "p"}'
    answer = await raw(srv, post("/auth/login", big))
    assert answer.startswith(b"HTTP/1.1 413 ")
    refused = srv.state.metrics.render().decode()
    assert 'ganggpt_http_requests_refused_total{reason="body_too_large"} 1.0' in refused

    # A body that arrives after the head, in another TCP segment, is waited for.
    payload = orjson.dumps({"username": "slow", "email": "slow@example.com", "password": PW})
    head = post("/auth/register", payload)[: -len(payload)]
    answer = await raw(srv, head[:20], then=head[20:] + payload, pause=0.2)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    # Chunked bodies too (h11 reads them).
    chunked = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    login_body = orjson.dumps({"username": "slow", "password": PW})
    chunked += f"{len(login_body):x}\r\n".encode() + login_body + b"\r\n0\r\n\r\n"
    answer = await raw(srv, chunked)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"access_token" in answer

    # The paths websockets reads are as before.
    answer = await raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


# --- identify(): the join seam, with tokens from the endpoints ---


def hello(name: str, token: str | None = None) -> control.Hello:
    return control.Hello(v=1, name=name, token=token)


def forge(claims: dict[str, Any], key: str | None, alg: str = "HS256") -> str:
    if alg == "none":

        def part(d: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(orjson.dumps(d)).rstrip(b"=").decode()

        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
    assert key is not None
    return jwt.encode(claims, key, algorithm=alg)


async def test_identify_refuses_bad_tokens_with_4004(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    await register(srv)
    good = await login(srv)
    claims = jwt.decode(good["access_token"], options={"verify_signature": False})
    now = int(time.time())
    expired = {**claims, "iat": now - 120, "exp": now - 60}
    cases = {
        "garbage": ("not.a.token", Reason.MALFORMED),
        "expired": (forge(expired, SECRET), Reason.EXPIRED),
        "alg none": (forge(claims, None, "none"), Reason.BAD_ALG),
        "wrongly signed": (forge(claims, secrets.token_hex(32)), Reason.BAD_SIGNATURE),
        "HS512": (forge(claims, SECRET, "HS512"), Reason.BAD_ALG),
        "no play:game": (
            forge({**claims, "permissions": ["create:faction"]}, SECRET),
            Reason.FORBIDDEN,
        ),
    }
    for what, (token, reason) in cases.items():
        got = await identify(srv.state, hello("Niko", token))
        assert isinstance(got, Rejected), what
        assert (got.reason, got.close_code) == (reason, CloseCode.AUTH_FAILED), what

    revoked = await login(srv)
    await call(srv, "POST", "/auth/logout", {"refresh_token": revoked["refresh_token"]})
    got = await identify(srv.state, hello("Niko", revoked["access_token"]))
    assert isinstance(got, Rejected) and got.reason is Reason.REVOKED


async def test_identify_takes_the_tokens_sub_not_the_name(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    niko = await register(srv, "Niko")
    await register(srv, "Roman")
    token = (await login(srv, "Roman"))["access_token"]
    # Roman says he is "Niko": he is still Roman, and cannot even look like Niko while
    # Niko plays.
    niko_in = await identify(srv.state, hello("Niko", (await login(srv, "Niko"))["access_token"]))
    assert isinstance(niko_in, Identity) and niko_in.sub == niko["id"]
    got = await identify(srv.state, hello("N\u0456ko", token))  # Cyrillic і
    assert isinstance(got, NameRejected) and got.reason == "name_taken"
    assert got.close_code == CloseCode.BAD_HELLO
    got = await identify(srv.state, hello("Roman\u200b", token))  # an invisible character
    assert isinstance(got, NameRejected) and got.reason == "forbidden_character"
    got = await identify(srv.state, hello("Cousin Roman", token))
    assert isinstance(got, Identity)
    assert got.sub != niko["id"] and got.display_name == "Cousin Roman" and not got.guest
    assert got.grants.has(Permission.PLAY_GAME) and got.sid is not None
    assert srv.state.accounts is not None
    srv.state.accounts.names.release(niko["id"])  # Niko left: the name is free again
    assert isinstance(await identify(srv.state, hello("Niko", token)), Identity)


async def test_guests_in_development_only(start: ServerFactory) -> None:
    dev = await start(**AUTH)
    got = await identify(dev.state, hello("Visitor"))
    assert isinstance(got, Identity) and got.guest and got.sid is None
    again = await identify(dev.state, hello("visitor"))
    assert isinstance(again, Identity) and again.sub == got.sub  # the same guest by name
    assert got.permissions == (Permission.PLAY_GAME.value,)

    prod = await start(**AUTH, env="production")
    got = await identify(prod.state, hello("Visitor"))
    assert isinstance(got, Rejected) and got.reason is Reason.TOKEN_REQUIRED
    assert got.close_code == CloseCode.AUTH_FAILED
