"""A cancelled storage call never leaves a transaction open (issue 12, item 1).

Every awaited storage call a connection makes (take_session, load_or_create_player,
save_session, change_money and the repository writes) is cancelled at each of its await points
in turn, on SQLite and PostgreSQL: the driver calls are counted, and the caller is cancelled
exactly when the k-th driver call starts (so the statement is still running when the cancel
lands, as when a client drops mid-join). After each one the next player must join, its resume
session must round-trip, and its next snapshot must reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiosqlite
import asyncpg
import pytest

from config import Config
from server.persistence.api import PlayerSnapshot, ResumeSession
from server.persistence.models import AuditEntry, Companion
from server.persistence.service import PersistenceService
from server.persistence.sqlite_storage import SqliteStorage
from tests.persistence.conftest import eventually


class Injector:
    """Counts driver calls; cancels `target` when call number `cancel_at` starts."""

    def __init__(self) -> None:
        self.calls = 0
        self.cancel_at: int | None = None
        self.target: asyncio.Future[Any] | None = None
        self.fired = False

    def hit(self) -> None:
        self.calls += 1
        if self.calls == self.cancel_at and self.target is not None and not self.target.done():
            self.target.cancel()
            self.fired = True


@pytest.fixture
def injector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Injector]:
    inj = Injector()
    targets = [
        (aiosqlite.Connection, ("execute", "execute_fetchall", "executemany")),
        (asyncpg.connection.Connection, ("execute", "executemany", "fetch", "fetchrow")),
    ]
    for cls, names in targets:
        for name in names:
            orig = getattr(cls, name)

            def make(orig: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
                async def counted(self: Any, *a: Any, **kw: Any) -> Any:
                    inj.hit()
                    return await orig(self, *a, **kw)

                return counted

            monkeypatch.setattr(cls, name, make(orig))
    yield inj


def _name() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


async def _still_works(svc: PersistenceService, why: str) -> None:
    """No transaction left open; a new player joins, its session round-trips, its snapshot
    is written."""
    if isinstance(svc.storage, SqliteStorage):
        async with svc.storage._lock:  # held: no transaction of anyone may be running now
            db = svc.storage._db
            assert db is not None and not db.in_transaction, f"transaction left open after {why}"
    rec = await asyncio.wait_for(svc.load_or_create_player(_name()), 10)
    token = uuid.uuid4().hex
    s = ResumeSession(token, rec.player_id, rec.name, time.time() + 60, {"net_id": 1})
    await asyncio.wait_for(svc.save_session(s), 10)
    got = await asyncio.wait_for(svc.take_session(token), 10)
    assert got is not None and got.player_id == rec.player_id, why
    t = time.time()
    svc.submit_snapshots([PlayerSnapshot(rec.player_id, 7.0, 8.0, 9.0, 1.0, 100, 0, 0, t)])

    async def written() -> bool:
        at = await svc.storage.snapshot_time(rec.player_id)
        return at is not None and abs(at - t) < 1e-3

    await eventually(written, 10, f"the snapshot after {why}")


async def _call_cancelled_everywhere(
    svc: PersistenceService, inj: Injector, what: str, make: Callable[[], Awaitable[Any]]
) -> int:
    """Cancel `make()` at each driver call it makes (k = 0 .. N); returns N."""
    # Dry run: how many driver calls does one uninterrupted call make?
    inj.cancel_at, base = None, inj.calls
    await make()
    n = inj.calls - base
    assert n > 0, f"{what} made no driver call"
    for k in range(0, n + 1):
        inj.fired = False
        task: asyncio.Future[Any] = asyncio.ensure_future(make())
        inj.target = task
        if k == 0:
            task.cancel()
        else:
            inj.cancel_at = inj.calls + k
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        inj.cancel_at, inj.target = None, None
        await _still_works(svc, f"{what} cancelled at driver call {k}/{n}")
    return n


async def test_cancel_every_storage_call_at_every_await_point(
    backend_config: Config, injector: Injector
) -> None:
    svc = PersistenceService(backend_config)
    await svc.start()
    try:
        host = await svc.load_or_create_player("host")
        tokens = iter(range(1_000_000))

        async def save_session() -> None:
            await svc.save_session(
                ResumeSession(f"t{next(tokens)}", host.player_id, "host", time.time() + 60, {})
            )

        async def take_session() -> None:
            tok = f"t{next(tokens)}"
            await svc.save_session(ResumeSession(tok, host.player_id, "host", time.time() + 60, {}))
            await svc.take_session(tok)

        await svc.create_faction("grove", "Grove Street")
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "take_session": take_session,
            "save_session": save_session,
            "load_or_create_player (new)": lambda: svc.load_or_create_player(_name()),
            "load_or_create_player (known)": lambda: svc.load_or_create_player("host"),
            "change_money": lambda: svc.change_money(host.player_id, 5, "test"),
            "factions.join": lambda: svc.repos.factions.join(host.player_id, "grove"),
            "missions.create": lambda: svc.repos.missions.create("Heist", difficulty=2),
            "companions.save": lambda: svc.repos.companions.save(
                Companion(str(uuid.uuid4()), host.player_id, "Rex", "dog", {"a": 1})
            ),
            "audit.append": lambda: svc.repos.audit.append(
                AuditEntry("admin", "kick", host.player_id, {"why": "test"}, "ok")
            ),
        }
        counts = {}
        for what, make in calls.items():
            counts[what] = await _call_cancelled_everywhere(svc, injector, what, make)
        # The fixture really reached the driver at the points that matter.
        assert counts["save_session"] >= 3  # BEGIN, INSERT, COMMIT
        assert counts["take_session"] >= 6
    finally:
        await svc.close()
