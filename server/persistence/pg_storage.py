"""PostgreSQL backend: an asyncpg pool for the primary, an optional one for a read replica.

Why the replica only serves some reads: a player who was just created or whose money just
moved must be read back from the primary (replica lag would show stale or missing rows);
faction, mission, NPC-memory and companion lookups tolerate a second of lag and are the bulk
of read traffic, so they go to `DATABASE_READ_URL` when it is set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from server.persistence.migrations import load_migrations, pending
from server.persistence.models import StorageInfo
from server.persistence.sql import Conn, SqlStorage
from server.persistence.txn import finish

log = logging.getLogger("ganggpt.persistence")

_UTC = dt.UTC
_MIGRATION_LOCK = 0x6A6E6770  # pg_advisory_lock key: one migrator at a time across instances


async def _rollback(c: Any, tr: Any) -> None:
    try:
        await tr.rollback()
    except Exception as err:
        if c.is_closed() or not c.is_in_transaction():
            return  # BEGIN itself failed, or the connection is gone: nothing is left open
        # Still inside a transaction we cannot end: never hand this connection out again.
        log.warning("rollback failed, dropping the connection: %s", err)
        c.terminate()


@asynccontextmanager
async def _transaction(c: Any) -> AsyncIterator[None]:
    tr = c.transaction()
    try:
        # Inside the try: a cancel delivered just after BEGIN completed must roll it back.
        await finish(tr.start())
        yield
        await finish(tr.commit())
    except BaseException:
        await finish(_rollback(c, tr))
        raise


def _partition_month(name: str) -> tuple[int, int] | None:
    """(year, month) of an `npc_memories_YYYY_MM` partition, None for any other name."""
    m = re.fullmatch(r"npc_memories_(\d{4})_(\d{2})", name)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


class PostgresStorage(SqlStorage):
    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        read_url: str | None = None,
        pool_size: int = 20,
        timeout_ms: int = 30000,
        partitions_ahead: int = 2,
    ) -> None:
        self.url = url
        self.read_url = read_url
        self.pool_size = pool_size
        self.timeout = timeout_ms / 1000.0
        self.partitions_ahead = partitions_ahead
        self._pool: Any = None
        self._read_pool: Any = None
        self._open_lock = asyncio.Lock()
        self._months: set[tuple[int, int]] = set()

    # --- connection management ---
    async def _make_pool(self, url: str) -> Any:
        return await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=self.pool_size,
            command_timeout=self.timeout,
            timeout=self.timeout,
            max_inactive_connection_lifetime=60.0,
        )

    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is None:
                self._pool = await self._make_pool(self.url)
            if self.read_url and self._read_pool is None:
                try:
                    self._read_pool = await self._make_pool(self.read_url)
                except Exception:
                    self._read_pool = None  # replica down: reads fall back to the primary

    async def close(self) -> None:
        pools, self._pool, self._read_pool = (self._pool, self._read_pool), None, None
        for p in pools:
            if p is not None:
                try:
                    await asyncio.wait_for(p.close(), timeout=self.timeout)
                except Exception:
                    p.terminate()

    def _require_pool(self) -> Any:
        if self._pool is None:
            raise ConnectionError("PostgreSQL pool is not open")
        return self._pool

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """A transaction whose BEGIN, COMMIT and ROLLBACK run to completion even when the
        caller is cancelled (txn.py); any exception, cancellation included, rolls back."""
        pool = self._require_pool()
        async with pool.acquire(timeout=self.timeout) as c, _transaction(c):
            yield c

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Conn]:
        pool = self._require_pool()
        async with pool.acquire(timeout=self.timeout) as c:
            yield c

    @asynccontextmanager
    async def _replica(self) -> AsyncIterator[Conn]:
        pool = self._read_pool or self._require_pool()
        async with pool.acquire(timeout=self.timeout) as c:
            yield c

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(
            exc,
            OSError
            | TimeoutError
            | ConnectionError
            | asyncpg.exceptions.PostgresConnectionError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.InsufficientResourcesError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.InternalClientError,
        )

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.exceptions.UniqueViolationError)

    async def ping(self) -> None:
        if self._pool is None:
            await self.open()
        try:
            async with self._read() as c:
                await c.fetchrow("SELECT 1")
        except Exception:
            # Broken connections would otherwise be handed out one by one after an outage.
            if self._pool is not None:
                await self._pool.expire_connections()
            raise

    # --- value conversions ---
    def ts(self, v: float) -> Any:
        return dt.datetime.fromtimestamp(v, tz=_UTC)

    def ts_out(self, v: Any) -> float:
        if isinstance(v, dt.datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=_UTC)
            return float(v.timestamp())
        return float(v)

    def iv(self, seconds: float | None) -> Any:
        return None if seconds is None else dt.timedelta(seconds=seconds)

    def iv_out(self, v: Any) -> float | None:
        if v is None:
            return None
        if isinstance(v, dt.timedelta):
            return v.total_seconds()
        return float(v)

    async def _before_npc_memory(self, c: Conn, at: float) -> None:
        d = dt.datetime.fromtimestamp(at, tz=_UTC)
        key = (d.year, d.month)
        if key not in self._months:
            await c.fetchrow("SELECT ganggpt_ensure_npc_memory_partition($1)", d)
            self._months.add(key)

    async def _changes(self, c: Conn, status: Any) -> int:
        # asyncpg's execute returns the command tag, e.g. "UPDATE 12" / "DELETE 3".
        tail = str(status or "").rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def prune_npc_memories(self, now: float, created_before: float | None = None) -> int:
        """As SqlStorage, but whole months older than `created_before` go by dropping their
        partition (no huge DELETE, no bloat); rows of a month the cut-off splits are deleted."""
        dropped = 0
        if created_before is not None:
            cut = dt.datetime.fromtimestamp(created_before, tz=_UTC)
            for part in await self.partitions():
                month = _partition_month(part)
                if month is None:
                    continue
                y, m = month
                end = dt.datetime(y + m // 12, m % 12 + 1, 1, tzinfo=_UTC)
                if end > cut:
                    continue
                async with self._tx() as c:
                    r = await c.fetchrow(f'SELECT count(*) AS n FROM "{part}"')
                    await c.execute(f'DROP TABLE IF EXISTS "{part}"')
                dropped += int(r["n"])
                # A late write for that month (a journal replayed) must recreate it.
                self._months.discard((y, m))
        return dropped + await super().prune_npc_memories(now, created_before)

    # --- schema ---
    async def migrate(self) -> list[int]:
        migrations = load_migrations("postgres")
        applied: list[int] = []
        async with self._require_pool().acquire(timeout=self.timeout) as c:
            await c.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await c.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                row = await c.fetchrow(
                    "SELECT coalesce(max(version), 0) AS v FROM schema_migrations"
                )
                for m in pending(migrations, int(row["v"])):
                    async with _transaction(c):
                        for stmt in m.statements:
                            await c.execute(stmt)
                        await c.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            m.version,
                            m.name,
                        )
                    applied.append(m.version)
            finally:
                await c.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        return applied

    async def schema_version(self) -> int:
        async with self._read() as c:
            exists = await c.fetchrow("SELECT to_regclass('schema_migrations') IS NOT NULL AS e")
            if not exists["e"]:
                return 0
            row = await c.fetchrow("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
        return int(row["v"])

    async def ensure_partitions(self) -> list[str]:
        """Create this month's and the next `partitions_ahead` months' npc_memories partitions."""
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT ganggpt_ensure_npc_memory_partitions($1) AS p", self.partitions_ahead
            )
        return [str(r["p"]) for r in rows]

    async def partitions(self) -> list[str]:
        async with self._read() as c:
            rows = await c.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'npc_memories'"
                " ORDER BY c.relname"
            )
        return [str(r["relname"]) for r in rows]

    async def maintain(self, now: float) -> None:
        await self.ensure_partitions()
        await self._purge(now)

    async def info(self) -> StorageInfo:
        return StorageInfo(
            backend=self.backend,
            schema_version=await self.schema_version(),
            details={"replica": self._read_pool is not None, "partitions": await self.partitions()},
        )
