"""Fixtures for the gameplay tests: the persistence of every backend (SQLite, PostgreSQL,
memory), built from the persistence tests' fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config import Config
from server.persistence.memory import MemoryPersistence
from server.persistence.service import PersistenceService
from tests.persistence.conftest import make_config  # noqa: F401  (a fixture, used by name)


@pytest.fixture(params=["sqlite", "postgres", "memory"])
async def persistence(
    request: pytest.FixtureRequest,
    make_config: Callable[..., Config],  # noqa: F811
) -> AsyncIterator[Any]:
    """A started persistence of each backend; the gameplay services use its `.repos`."""
    p: Any
    if request.param == "memory":
        p = MemoryPersistence()
    elif request.param == "postgres":
        p = PersistenceService(
            make_config(database_url=request.getfixturevalue("pg_url")), CollectorRegistry()
        )
    else:
        p = PersistenceService(make_config(), CollectorRegistry())
    await p.start()
    try:
        yield p
    finally:
        await p.close()
