"""The /admin console over real sockets (server/admin, SPEC §19): who may open it, what each
role may run, and what the commands do to live players."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from pathlib import Path

import jwt
import orjson
import pytest

from config import load_config
from protocol.catalogue import CloseCode
from server.app import default_persistence
from server.persistence.models import AuditEntry
from server.persistence.storage import StorageUnavailable
from tests.admin.support import account, admin_url, open_admin
from tests.server.conftest import BASE, ServerFactory
from tests.server.test_accounts_http import AUTH, SECRET, call, forge, login
from tests.server.test_auth_join import join, refused, wait_for


async def audit_rows(srv, action: str) -> list:  # type: ignore[no-untyped-def]
    return [r for r in await srv.state.persistence.repos.audit.recent(1000) if r.action == action]


async def test_who_may_open_the_console(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    _, player_token = await account(srv, "Lamar")
    admin_id, admin_token = await account(srv, "Lester", "admin")
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    now = int(time.time())

    # A play:game token is valid but opens nothing here.
    a = await open_admin(srv, player_token, expect=False)
    assert await a.closed_code() == CloseCode.FORBIDDEN

    bad = {
        "garbage": "not.a.token",
        "expired": forge({**claims, "iat": now - 120, "exp": now - 60}, SECRET),
        "alg none": forge(claims, None, "none"),
        "wrongly signed": forge(claims, secrets.token_hex(32)),
    }
    for label, token in bad.items():
        a = await open_admin(srv, token, expect=False)
        assert await a.closed_code() == CloseCode.AUTH_FAILED, label

    # Not an auth message first, or a binary frame: 4003.
    a = await open_admin(srv, None, expect=False)
    await a.ws.send(orjson.dumps({"op": "cmd", "id": 1, "cmd": "help"}).decode())
    assert await a.closed_code() == CloseCode.BAD_HELLO
    a = await open_admin(srv, admin_token)
    await a.ws.send(b"\x00\x01")
    assert await a.closed_code() == CloseCode.BAD_HELLO

    a = await open_admin(srv, admin_token)
    assert a.authed["sub"] == admin_id and a.authed["role"] == "admin"
    assert "players.ban" in a.authed["commands"] and "players.kick" in a.authed["commands"]
    got = await a.cmd("no.such")
    assert got["error"]["code"] == "unknown_command"
    got = await a.cmd("players.kick", player=12, bogus=True)
    assert got["error"]["code"] == "bad_args"
    await a.ws.close()


async def test_moderator_kicks_and_warns_but_cannot_ban(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Trevor")
    _, mod_token = await account(srv, "Moddy", "moderator")
    p = await join(srv, "Trevor", ptoken)
    m = await open_admin(srv, mod_token)
    assert "players.ban" not in m.authed["commands"]
    assert "players.kick" in m.authed["commands"]

    listed = await m.ok("players.list")
    assert [q["player_id"] for q in listed["players"]] == [pid]
    assert listed["players"][0]["net_id"] == p.nid and listed["players"][0]["guest"] is False

    denied = await m.cmd("players.ban", player=pid, reason="no", duration_s=None)
    assert denied["ok"] is False and denied["error"]["code"] == "forbidden"
    assert [r.result for r in await audit_rows(srv, "players.ban")] == ["denied"]
    denied = await m.cmd("economy.give", player=pid, amount=5, reason="gift")
    assert denied["error"]["code"] == "forbidden"

    warned = await m.ok("players.warn", player="trevor", reason="speeding on the sidewalk")
    event = await p.text("event")
    assert event["type"] == "warning" and event["data"]["warning_id"] == warned["warning_id"]

    assert await m.ok("players.kick", player=p.nid, reason="cool off") == {
        "kicked": True,
        "player_id": pid,
    }
    assert await p.closed_code() == CloseCode.KICKED
    rows = await audit_rows(srv, "players.kick")
    assert [(r.actor, r.target, r.result) for r in rows] == [("moddy", pid, "ok")]
    await m.ws.close()


async def test_ban_closes_the_live_connection_and_survives_a_restart(
    start: ServerFactory, tmp_path: Path
) -> None:
    db = str(tmp_path / "game.db")
    cfg = load_config(**{**BASE, **AUTH, "sqlite_path": db})
    srv = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    pid, ptoken = await account(srv, "Niko")
    _, admin_token = await account(srv, "Boss", "admin")
    p = await join(srv, "Niko", ptoken)
    a = await open_admin(srv, admin_token)
    got = await a.ok("players.ban", player="Niko", reason="aimbot", duration_s=None)
    assert got["until"] is None and got["account"] == pid
    # The audit row is durable before the answer: it is there when the answer is read.
    rows = await audit_rows(srv, "players.ban")
    assert [(r.target, r.result, r.entry_id) for r in rows] == [(pid, "ok", got["ban_id"])]
    assert await p.closed_code() == CloseCode.KICKED
    assert await refused(srv, "Niko", ptoken) == CloseCode.AUTH_FAILED
    await a.ws.close()
    await srv.close(drain=False)

    again = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    status, body, _ = await call(
        again, "POST", "/auth/login", {"username": "Niko", "password": "correct horse battery"}
    )
    assert (status, body["error"]) == (403, "banned")
    assert await refused(again, "Niko", ptoken) == CloseCode.AUTH_FAILED
    a = await open_admin(again, (await login(again, "Boss"))["access_token"])
    inspected = await a.ok("players.inspect", player=pid)
    assert inspected["online"] is False and inspected["bans"][0]["permanent"] is True
    assert await a.ok("players.unban", account="niko") == {"unbanned": True, "account": pid}
    assert (await login(again, "Niko"))["access_token"]
    await a.ws.close()


async def test_announce_reaches_every_player(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    _, t1 = await account(srv, "Ana")
    _, t2 = await account(srv, "Bea")
    _, mod = await account(srv, "Moira", "moderator")
    players = [await join(srv, "Ana", t1), await join(srv, "Bea", t2)]
    m = await open_admin(srv, mod)
    assert await m.ok("announce", text="restart soon") == {"delivered": 2}
    for p in players:
        ev = await p.text("event")
        assert ev["type"] == "announcement" and ev["data"]["text"] == "restart soon"
    assert len(await audit_rows(srv, "announce")) == 1
    for p in players:
        await p.ws.close()
    await m.ws.close()


async def test_a_logout_closes_the_console_with_4004(start: ServerFactory) -> None:
    srv = await start(**AUTH)
    await account(srv, "Root", "admin")
    tokens = await login(srv, "Root")
    a = await open_admin(srv, tokens["access_token"])
    status, _, _ = await call(
        srv, "POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200
    assert await a.closed_code() == CloseCode.AUTH_FAILED
    assert math.isfinite(1.0)
    await wait_for(lambda: not srv.state.admin.sessions)  # type: ignore[union-attr]
    assert admin_url(srv).endswith("/admin")


async def test_the_result_waits_for_the_audit_row(
    start: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held audit write: the kick is done but not acknowledged until its row is stored; a
    failed audit write is answered `failed`, never `ok`."""
    srv = await start(**AUTH)
    pid, ptoken = await account(srv, "Trevor")
    _, mod = await account(srv, "Moira", "moderator")
    p = await join(srv, "Trevor", ptoken)
    m = await open_admin(srv, mod)
    audit = srv.state.persistence.repos.audit
    original = audit.append
    called, release = asyncio.Event(), asyncio.Event()

    async def held(entry: AuditEntry) -> None:
        called.set()
        await release.wait()
        await original(entry)

    monkeypatch.setattr(audit, "append", held)
    kick = await m.send("players.kick", {"player": pid})
    await asyncio.wait_for(called.wait(), 5)
    assert await p.closed_code() == CloseCode.KICKED
    # A later command is answered while the kick's row is held: the kick's result is not.
    assert (await m.result(await m.send("help")))["ok"]
    assert kick not in m.results
    release.set()
    assert (await m.result(kick))["ok"]
    assert [r.target for r in await audit_rows(srv, "players.kick")] == [pid]

    async def broken(entry: AuditEntry) -> None:
        raise StorageUnavailable("database down")

    monkeypatch.setattr(audit, "append", broken)
    got = await m.cmd("announce", text="hello")
    assert got["ok"] is False and got["error"]["code"] == "failed"
    assert "audit" in got["error"]["message"]
    await m.ws.close()


async def test_no_auth_in_time_closes_with_4002_and_hooks_push(start: ServerFactory) -> None:
    hasty = await start(**AUTH, handshake_timeout=0.5)
    silent = await open_admin(hasty, None, expect=False)
    assert await silent.closed_code() == CloseCode.HANDSHAKE_TIMEOUT
    srv = await start(**AUTH)

    # The anti-cheat's hooks: its score shows in players.list, a report is pushed and logged.
    pid, ptoken = await account(srv, "Trevor")
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Trevor", ptoken)
    a = await open_admin(srv, token)
    admin = srv.state.admin
    assert admin is not None
    admin.violations = lambda player: {"score": 7, "recent": [{"kind": "speed"}]}
    await a.ok("subscribe", topics=["players"])
    admin.report_violation(srv.state.players[pid], {"kind": "speed", "speed": 116.0})
    pushed = await a.push("players")
    assert pushed["data"] == {
        "change": "violations",
        "player_id": pid,
        "net_id": p.nid,
        "name": "Trevor",
        "violations": 7,
    }
    assert (await a.ok("players.list"))["players"][0]["violations"] == 7
    inspected = await a.ok("players.inspect", player=pid)
    assert inspected["violations"] == {"score": 7, "recent": [{"kind": "speed"}]}
    assert (await a.ok("logs.tail", n=1))["events"][0]["kind"] == "violation"
    await p.ws.close()
    await a.ws.close()
