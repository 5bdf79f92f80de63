"""Fixtures of the end-to-end tests: a private work directory and server processes, both
removed after the test whatever happens."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import ServerProcess, free_port, server_env

SpawnServer = Callable[..., ServerProcess]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """In-process servers run on uvloop, as in production."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temporary directory (database file, journal, logs), deleted after the test."""
    path = Path(tempfile.mkdtemp(prefix="ganggpt-e2e-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def spawn_server(workdir: Path) -> Iterator[SpawnServer]:
    """`spawn_server(port=None, **settings)` starts `python -m server run` with the storage in
    `workdir`; every process still running at the end of the test is killed."""
    procs: list[ServerProcess] = []

    def spawn(port: int | None = None, **settings: Any) -> ServerProcess:
        env = server_env(port or free_port(), workdir, **settings)
        proc = ServerProcess(env, workdir / f"server-{len(procs)}.log").start()
        procs.append(proc)
        return proc

    try:
        yield spawn
    finally:
        for p in procs:
            p.stop()
