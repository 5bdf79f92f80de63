"""Fixtures for the persistence tests: one storage/service per backend, configs on tmp paths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from config import Config, load_config
from server.persistence.memory_storage import MemoryStorage
from server.persistence.pg_storage import PostgresStorage
from server.persistence.sqlite_storage import SqliteStorage
from server.persistence.storage import Storage

# Persistence tests run their services with short intervals so that a test takes seconds.
FAST: dict[str, Any] = {
    "snapshot_interval": 0.05,
    "persist_spill_after": 0.3,
    "persist_retry_max": 0.3,
    "database_timeout": 2000,
    "database_pool_size": 4,
    "redis_timeout": 0.3,
    "redis_url": None,
    "database_url": None,
    "database_read_url": None,
    "drain_timeout": 2.0,
    "log_level": "warning",
}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Config on this test's tmp dir; keyword overrides win."""

    def make(**overrides: Any) -> Config:
        values = {
            **FAST,
            "sqlite_path": str(tmp_path / "ganggpt.db"),
            "journal_path": str(tmp_path / "journal"),
        }
        values.update(overrides)
        return load_config(**values)

    return make


@pytest.fixture
def backend_config(
    backend: str, request: pytest.FixtureRequest, make_config: Callable[..., Config]
) -> Config:
    """A config for `backend`: a fresh PostgreSQL database of this run, or a tmp SQLite file."""
    if backend == "postgres":
        return make_config(database_url=request.getfixturevalue("pg_url"))
    return make_config()


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, migrated storage of each backend (the in-memory one included)."""
    backend = str(request.param)
    st: Storage
    if backend == "memory":
        st = MemoryStorage()
    elif backend == "postgres":
        st = PostgresStorage(request.getfixturevalue("pg_url"), pool_size=4, timeout_ms=5000)
    else:
        st = SqliteStorage(str(tmp_path / "contract.db"))
    await st.open()
    await st.migrate()
    try:
        yield st
    finally:
        await st.close()


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll `check` until it is true; fail with `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        res = check()
        if not isinstance(res, bool):
            res = await res
        if res:
            return
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what or check}")
        await asyncio.sleep(0.02)
