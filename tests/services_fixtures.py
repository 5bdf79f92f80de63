"""Real PostgreSQL and Redis for the tests, isolated per test run.

Why per-run names: several runs (developers, CI, the same developer twice) may share the
machine's PostgreSQL and Redis. Every database this plugin creates is named
`ganggpt_test_<pid>_<random>_<n>` and dropped after its test (and any leftover of the run at
the end of the session); every Redis key a test writes is under its own prefix
`ganggpt_test:<pid>:<random>:<n>:` and deleted afterwards. No run can see another's data, and
the machine's services are never stopped or reconfigured.

A service that is not reachable skips the tests that need it, with the reason; under CI=true it
is a failure instead, since CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

PG_ADMIN_URL = os.environ.get("GANGGPT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GANGGPT_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
_counter = itertools.count(1)


def service_missing(service: str, why: str) -> None:
    """Skip (developer machine) or fail (CI=true) because `service` is not there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{service} is required under CI=true but is not reachable: {why}"
            " (tests/services.sh starts it)",
            pytrace=False,
        )
    pytest.skip(f"{service} not reachable ({why}); run `bash tests/services.sh` to start it")


def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


async def _pg_admin_async(sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _pg_admin(sql: str) -> list[asyncpg.Record]:
    """Run one admin statement on a thread of its own: fixtures may be set up while the
    test's event loop is running (async fixtures asking for `pg_url`)."""
    with ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(asyncio.run, _pg_admin_async(sql)).result()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The admin connection URL, once PostgreSQL answered; drops the run's leftovers at the end."""
    try:
        _pg_admin("SELECT 1")
    except Exception as err:
        service_missing("PostgreSQL on 127.0.0.1:5432", f"{type(err).__name__}: {err}")
    yield PG_ADMIN_URL
    rows = _pg_admin(
        f"SELECT datname FROM pg_database WHERE datname LIKE 'ganggpt_test_{RUN_ID}_%'"
    )
    for r in rows:
        _pg_admin(f'DROP DATABASE IF EXISTS "{r["datname"]}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database of this run for one test: its connection URL."""
    name = f"ganggpt_test_{RUN_ID}_{next(_counter)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(pg_admin_url, name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as err:
        service_missing("Redis on 127.0.0.1:6379", f"{type(err).__name__}: {err}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this run for one test; every key under it is deleted afterwards."""
    prefix = f"ganggpt_test:{RUN_ID}:{next(_counter)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
