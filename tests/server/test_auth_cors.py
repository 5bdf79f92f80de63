"""CORS on the account endpoints, over raw sockets: a page of an origin in CORS_ORIGINS (or
served by this server) gets its preflight answered and can read every answer; any other page
gets none of it (server/net/cors.py, SPEC §15.1)."""

from __future__ import annotations

import orjson

from server.app import Server
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH, PW, post, raw

GAME_PAGE = "https://play.example.com"
OTHER_PAGE = "https://evil.example.net"


def head(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one plain HTTP answer."""
    top, _, body = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


async def preflight(srv: Server, path: str, origin: str, method: str = "POST") -> bytes:
    return await raw(
        srv,
        (
            f"OPTIONS {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nOrigin: {origin}\r\n"
            f"Access-Control-Request-Method: {method}\r\n"
            "Access-Control-Request-Headers: content-type, authorization\r\n\r\n"
        ).encode(),
    )


def login_body(name: str = "Niko", password: str = "wrong password!") -> bytes:
    return orjson.dumps({"username": name, "password": password})


async def test_an_allowed_origin_is_answered_and_can_read(start: ServerFactory) -> None:
    srv = await start(**AUTH, cors_origins=f"{GAME_PAGE}, https://other.example.org")
    status, h, body = head(await preflight(srv, "/auth/login", GAME_PAGE))
    assert status == 200 and body == b""
    assert h["access-control-allow-origin"] == GAME_PAGE
    assert h["access-control-allow-methods"] == "POST"
    allowed = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed
    assert h["vary"] == "Origin" and int(h["access-control-max-age"]) > 0
    status, h, _ = head(await preflight(srv, "/auth/me", GAME_PAGE, "GET"))
    assert status == 200 and h["access-control-allow-methods"] == "GET"

    # The actual requests: a success and refusals alike carry the origin.
    origin = f"Origin: {GAME_PAGE}\r\n"
    reg = orjson.dumps({"username": "Niko", "email": "niko@example.com", "password": PW})
    status, h, _ = head(await raw(srv, post("/auth/register", reg, extra=origin)))
    assert status == 201 and h["access-control-allow-origin"] == GAME_PAGE
    status, h, _ = head(await raw(srv, post("/auth/login", login_body("Niko", PW), extra=origin)))
    assert status == 200 and h["access-control-allow-origin"] == GAME_PAGE
    status, h, body = head(await raw(srv, post("/auth/login", login_body(), extra=origin)))
    assert status == 401 and orjson.loads(body)["error"] == "bad_credentials"
    assert h["access-control-allow-origin"] == GAME_PAGE and h["vary"] == "Origin"
    assert "retry-after" in h["access-control-expose-headers"].lower()
    me = f"GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n{origin}\r\n".encode()
    status, h, _ = head(await raw(srv, me))
    assert status == 401 and h["access-control-allow-origin"] == GAME_PAGE

    # A path that does not exist: 404, readable.
    status, h, _ = head(await preflight(srv, "/auth/nothing", GAME_PAGE))
    assert status == 404 and h["access-control-allow-origin"] == GAME_PAGE


async def test_other_origins_get_no_cors(start: ServerFactory) -> None:
    srv = await start(**AUTH, cors_origins=GAME_PAGE)
    refused = srv.state.metrics.connections_refused.labels(reason="origin")
    before = refused._value.get()
    status, h, _ = head(await preflight(srv, "/auth/login", OTHER_PAGE))
    assert status == 403 and "access-control-allow-origin" not in h
    assert refused._value.get() == before + 1
    origin = f"Origin: {OTHER_PAGE}\r\n"
    status, h, _ = head(await raw(srv, post("/auth/login", login_body(), extra=origin)))
    assert status == 401 and not any(k.startswith("access-control-") for k in h)
    # Not a browser (no Origin): answered as before, no CORS headers; OPTIONS that is not a
    # preflight is still a method the path does not take.
    status, h, _ = head(await raw(srv, post("/auth/login", login_body())))
    assert status == 401 and not any(k.startswith("access-control-") for k in h)
    plain = b"OPTIONS /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    status, h, _ = head(await raw(srv, plain))
    assert status == 405 and h["allow"] == "POST"


async def test_any_origin_and_this_servers_own_pages(start: ServerFactory) -> None:
    anyone = await start(**AUTH, cors_origins="*")
    status, h, _ = head(await preflight(anyone, "/auth/login", OTHER_PAGE))
    assert status == 200 and h["access-control-allow-origin"] == OTHER_PAGE
    # Without CORS_ORIGINS, a page served by this server (the dashboard) still logs in.
    srv = await start(**AUTH)
    mine = f"http://127.0.0.1:{srv.port}"
    status, h, _ = head(await preflight(srv, "/auth/login", mine))
    assert status == 200 and h["access-control-allow-origin"] == mine
    status, _, _ = head(await preflight(srv, "/auth/login", GAME_PAGE))
    assert status == 403
