"""SQLite backend: the embedded default when DATABASE_URL is unset.

Why aiosqlite and one connection: aiosqlite runs every call on its own thread, so the event loop
(and the tick) never waits on disk; SQLite allows one writer at a time anyway, so a single
connection guarded by an asyncio lock gives transactions that never interleave, with no
"database is locked" retries. WAL with synchronous=FULL: a committed write survives power loss,
which is what "acknowledged means durable" needs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from server.persistence.migrations import load_migrations, pending
from server.persistence.models import StorageInfo
from server.persistence.sql import Conn, SqlStorage
from server.persistence.txn import finish

log = logging.getLogger("ganggpt.persistence")

_PARAM = re.compile(r"\$(\d+)")


def to_sqlite(sql: str) -> str:
    """`$1` (PostgreSQL) -> `?1` (SQLite numbered parameter): one query text for both."""
    return _PARAM.sub(r"?\1", sql)


class _SqliteConn:
    """The `Conn` calls over an aiosqlite connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._sql: dict[str, str] = {}

    def _q(self, sql: str) -> str:
        q = self._sql.get(sql)
        if q is None:
            q = self._sql[sql] = to_sqlite(sql)
        return q

    async def execute(self, sql: str, *args: Any) -> Any:
        await self.db.execute(self._q(sql), args)

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> Any:
        await self.db.executemany(self._q(sql), args)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.db.execute_fetchall(self._q(sql), args))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.db.execute_fetchall(self._q(sql), args)
        for r in rows:
            return r
        return None


async def _rollback(c: _SqliteConn) -> None:
    try:
        await c.db.execute("ROLLBACK")
    except sqlite3.OperationalError as err:
        if "no transaction" not in str(err):  # SQLite already rolled back (a failed COMMIT)
            raise


async def _begin(c: _SqliteConn) -> None:
    if c.db.in_transaction:
        # Never expected (every path below ends its transaction), but one left open would
        # refuse every later write: end it rather than fail forever.
        log.error("SQLite connection was left inside a transaction; rolling it back")
        await _rollback(c)
    await c.db.execute("BEGIN IMMEDIATE")


@asynccontextmanager
async def _transaction(c: _SqliteConn) -> AsyncIterator[None]:
    """BEGIN ... COMMIT, ROLLBACK on any exception including CancelledError; BEGIN, COMMIT
    and ROLLBACK run to completion even when the caller is cancelled (see txn.py)."""
    try:
        # Inside the try: a cancel delivered just after BEGIN completed must roll it back.
        await finish(_begin(c))
        yield
        await finish(c.db.execute("COMMIT"))
    except BaseException:
        await finish(_rollback(c))
        raise


class SqliteStorage(SqlStorage):
    backend = "sqlite"

    def __init__(self, path: str, *, timeout_ms: int = 30000) -> None:
        self.path = path
        self.timeout_ms = timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._conn: _SqliteConn | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={int(self.timeout_ms)}",
        ):
            await db.execute(pragma)
        self._db, self._conn = db, _SqliteConn(db)

    async def close(self) -> None:
        db, self._db, self._conn = self._db, None, None
        if db is not None:
            async with self._lock:
                await db.close()

    def _require(self) -> _SqliteConn:
        if self._conn is None:
            raise ConnectionError("SQLite database is not open")
        return self._conn

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        async with self._lock:
            c = self._require()
            async with _transaction(c):
                yield c

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        async with self._lock:
            yield self._require()

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, sqlite3.OperationalError):
            msg = str(exc).lower()
            return any(w in msg for w in ("locked", "disk i/o", "unable to open", "busy"))
        return isinstance(exc, ConnectionError | OSError | TimeoutError)

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    async def ping(self) -> None:
        if self._db is None:
            await self.open()
        async with self._read() as c:
            await c.fetchrow("SELECT 1")

    async def migrate(self) -> list[int]:
        migrations = load_migrations("sqlite")
        applied: list[int] = []
        async with self._lock:
            c = self._require()
            await c.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))"
            )
            row = await c.fetchrow("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
            for m in pending(migrations, int(row["v"])):
                async with _transaction(c):
                    for stmt in m.statements:
                        await c.db.execute(stmt)
                    await c.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        m.version,
                        m.name,
                    )
                applied.append(m.version)
        return applied

    async def schema_version(self) -> int:
        async with self._read() as c:
            r = await c.fetchrow(
                "SELECT count(*) AS n FROM sqlite_master WHERE name = 'schema_migrations'"
            )
            if not r["n"]:
                return 0
            row = await c.fetchrow("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
        return int(row["v"])

    async def maintain(self, now: float) -> None:
        await self._purge(now)

    async def info(self) -> StorageInfo:
        return StorageInfo(
            backend=self.backend,
            schema_version=await self.schema_version(),
            details={"path": self.path},
        )
