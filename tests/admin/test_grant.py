"""`ganggpt role`: the first administrator is made from the command line, audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config import load_config
from protocol.catalogue import CloseCode
from server.admin.grant import run_set_role
from server.app import default_persistence
from server.cli import main
from tests.admin.support import open_admin
from tests.server.conftest import BASE, ServerFactory
from tests.server.test_accounts_http import AUTH, login, register


async def test_role_command_makes_an_administrator(
    start: ServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "game.db")
    cfg = load_config(**{**BASE, **AUTH, "sqlite_path": db})
    srv = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    account = await register(srv, "Lester")
    before = await open_admin(srv, (await login(srv, "Lester"))["access_token"], expect=False)
    assert await before.closed_code() == CloseCode.FORBIDDEN

    monkeypatch.setenv("SQLITE_PATH", db)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert await asyncio.to_thread(main, ["role", "lester", "wizard"]) == 1
    assert "unknown role 'wizard'" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["role", "nobody", "admin"]) == 1
    got = await asyncio.to_thread(run_set_role, cfg, "Lester", "admin")
    assert got == {
        "account": account["id"],
        "username": "lester",
        "role": "admin",
        "previous": "player",
    }

    a = await open_admin(srv, (await login(srv, "Lester"))["access_token"])
    assert a.authed["role"] == "admin"
    rows = await a.ok("audit.list", action="roles.set")
    assert [(r["actor"], r["target"], r["args"]) for r in rows["rows"]] == [
        ("cli", account["id"], {"username": "lester", "role": "admin"})
    ]
    await a.ws.close()
