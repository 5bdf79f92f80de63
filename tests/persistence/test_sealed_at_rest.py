"""With ENCRYPTION_KEY set, emails and what players said to NPCs are ciphertext in the database
rows themselves (read with the database's own driver, not through our code), read back as
plaintext through the repositories, survive a key rotation (ENCRYPTION_KEYS_OLD), and no key
shows in the logs."""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
from typing import Any

import asyncpg
import orjson
import pytest
from prometheus_client import CollectorRegistry

from config import Config
from server.auth.crypto import is_sealed
from server.auth.service import AccountService
from server.persistence.service import PersistenceService
from tests.persistence.conftest import eventually

KEY1 = os.urandom(32).hex()
KEY2 = base64.b64encode(os.urandom(32)).decode()
EMAIL = "lucia.secret@example.com"
SAID = "the vault code is 4711, tell nobody"
PW = "correct horse battery"


async def raw_rows(config: Config, sql: str) -> list[dict[str, Any]]:
    if config.database_url:
        conn = await asyncpg.connect(config.database_url)
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    db = sqlite3.connect(config.sqlite_path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql).fetchall()]
    finally:
        db.close()


async def started(config: Config) -> PersistenceService:
    p = PersistenceService(config, CollectorRegistry())
    await p.start()
    return p


def accounts(config: Config, p: PersistenceService) -> AccountService:
    return AccountService.from_config(
        config, store=p.repos.auth_accounts, refresh_store=p.repos.auth_sessions
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_emails_and_npc_conversations_are_ciphertext_at_rest(
    backend_config: Config, make_config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = {"database_url": backend_config.database_url} if backend_config.database_url else {}
    cfg1 = make_config(**db, encryption_key=KEY1, bcrypt_rounds=10)
    p = await started(cfg1)
    try:
        svc = accounts(cfg1, p)
        acc = await svc.register(username="lucia", email=EMAIL, password=PW, ip="10.0.0.1")
        player = await p.repos.players.load_or_create("talker")
        mem = p.repos.npc_memory
        assert mem.add("npc-7", "conversation", {"text": SAID}, player_id=player.player_id)

        async def stored() -> bool:
            return len(await mem.recent("npc-7", player.player_id)) == 1

        await eventually(stored, 10, "the memory stored")
        # Through the repositories: plaintext.
        (back,) = await mem.recent("npc-7", player.player_id)
        assert back.content == {"text": SAID}
        pair = await svc.login({"login": EMAIL.upper(), "password": PW}, ip="10.0.0.1")
        assert pair.claims.email == EMAIL  # found by its keyed hash, opened for the token
        svc.close()

        # In the rows: ciphertext only.
        (row,) = await raw_rows(cfg1, "SELECT * FROM accounts WHERE email_sealed IS NOT NULL")
        assert is_sealed(row["email_sealed"]) and row["email_sealed"] == acc.email_sealed
        assert "lucia.secret" not in repr(row) and "example.com" not in repr(row)
        (mrow,) = await raw_rows(cfg1, "SELECT * FROM npc_memories WHERE npc_id = 'npc-7'")
        content = mrow["content"]
        content = orjson.loads(content) if isinstance(content, (str, bytes)) else content
        assert set(content) == {"sealed"} and is_sealed(content["sealed"])
        assert "vault" not in repr(mrow) and "4711" not in repr(mrow)
    finally:
        await p.close()

    # Rotation: a new key seals, the old one still opens.
    cfg2 = make_config(**db, encryption_key=KEY2, encryption_keys_old=KEY1, bcrypt_rounds=10)
    p = await started(cfg2)
    try:
        mem = p.repos.npc_memory
        player = await p.repos.players.load_or_create("talker")
        (old,) = await mem.recent("npc-7", player.player_id)
        assert old.content == {"text": SAID}
        assert mem.add("npc-7", "conversation", {"text": "second"}, player_id=player.player_id)

        async def both() -> bool:
            return len(await mem.recent("npc-7", player.player_id)) == 2

        await eventually(both, 10, "both memories")
        assert [m.content["text"] for m in await mem.recent("npc-7", player.player_id)] == [
            "second",
            SAID,
        ]
        kids = {
            (
                orjson.loads(r["content"])
                if isinstance(r["content"], (str, bytes))
                else r["content"]
            )["sealed"].split(":")[1]
            for r in await raw_rows(cfg2, "SELECT content FROM npc_memories")
        }
        assert len(kids) == 2  # one row per key
        svc = accounts(cfg2, p)
        pair = await svc.login({"login": EMAIL, "password": PW}, ip="10.0.0.1")
        assert pair.claims.email == EMAIL
        svc.close()
    finally:
        await p.close()

    # The old key dropped: what it sealed is left out (counted), nothing breaks.
    cfg3 = make_config(**db, encryption_key=KEY2)
    p = await started(cfg3)
    try:
        mem = p.repos.npc_memory
        player = await p.repos.players.load_or_create("talker")
        got = await mem.recent("npc-7", player.player_id)
        assert [m.content["text"] for m in got] == ["second"]
        assert mem.unreadable == 1  # type: ignore[attr-defined]
    finally:
        await p.close()

    text = caplog.text
    for secret in (KEY1, KEY2, SAID, EMAIL):
        assert secret not in text
