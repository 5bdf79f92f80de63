"""Who holds the database: one server per SQLite file, and no restore under a live server.

Why a lock outside the database: two servers on one SQLite file both start (SQLite serialises
their writes, so nothing fails), and then the same player plays on both at once at different
positions, each overwriting the other's snapshots. PostgreSQL is made for several server
instances, so there servers share an advisory lock and only the tools that replace the whole
database (`ganggpt restore`, `ganggpt copy` into it) need it exclusively.

- SQLite: an OS file lock on `<SQLITE_PATH>.lock` (the `filelock` library; the kernel drops it
  when the process dies, so a crash never leaves a stale lock).
- PostgreSQL: a session advisory lock on a connection held open for the server's life:
  shared by servers, exclusive for restore and copy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from filelock import FileLock, Timeout

from config import Config, ConfigError

_PG_OWNER_LOCK = 0x6A6E6771  # beside the migration lock (pg_storage._MIGRATION_LOCK)


class StartupError(ConfigError):
    """The server (or a command) cannot use the configured database; one line says why.

    A ConfigError so that `ganggpt` prints it as one line and exits non-zero."""


class DatabaseInUse(StartupError):
    """Another process holds the database (a server, or a restore in progress)."""


def mask_url(url: str) -> str:
    """`url` with any password replaced by ***."""
    try:
        p = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if p.password is None:
        return url
    host = p.netloc.rsplit("@", 1)[1]
    user = p.username or ""
    return urlunsplit((p.scheme, f"{user}:***@{host}", p.path, p.query, p.fragment))


def database_label(config: Config) -> str:
    """How an operator names the configured database in a message: variable and value."""
    if config.database_url:
        return f"DATABASE_URL {mask_url(config.database_url)}"
    return f"SQLITE_PATH {Path(config.sqlite_path).resolve()}"


class Owner(Protocol):
    async def acquire(self) -> None: ...
    async def release(self) -> None: ...


class SqliteOwner:
    def __init__(self, path: str, *, purpose: str = "server") -> None:
        self.path = path
        self.purpose = purpose
        self._lock = FileLock(f"{path}.lock")

    async def acquire(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise DatabaseInUse(
                f"SQLITE_PATH {Path(self.path).resolve()} is in use by another GangGPT server"
                f" (lock {self._lock.lock_file}): stop it first, or give this one its own"
                " SQLITE_PATH"
            ) from None

    async def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class PostgresOwner:
    """Shared (servers) or exclusive (restore, copy) advisory lock of one database."""

    def __init__(self, url: str, *, exclusive: bool, timeout: float = 10.0) -> None:
        self.url = url
        self.exclusive = exclusive
        self.timeout = timeout
        self._conn: Any = None

    async def acquire(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=self.timeout)
        fn = "pg_try_advisory_lock" if self.exclusive else "pg_try_advisory_lock_shared"
        try:
            ok = await conn.fetchval(f"SELECT {fn}($1)", _PG_OWNER_LOCK)
        except BaseException:
            await conn.close()
            raise
        if not ok:
            await conn.close()
            who = "a GangGPT server is using it" if self.exclusive else "it is being restored"
            raise DatabaseInUse(f"DATABASE_URL {mask_url(self.url)}: {who}; try again later")
        self._conn = conn

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), self.timeout)
            except Exception:
                conn.terminate()

    def abandon(self) -> None:
        """Drop the lock as a killed process would (the server closes the socket)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()


def make_owner(config: Config, *, exclusive: bool) -> Owner | None:
    """The lock a server (exclusive=False) or a restore/copy (exclusive=True) takes; None for
    an in-memory SQLite database."""
    if config.database_url:
        url = config.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresOwner(url, exclusive=exclusive, timeout=config.database_timeout / 1000)
    if config.sqlite_path in ("", ":memory:"):
        return None
    return SqliteOwner(config.sqlite_path)
