"""A database belongs to one owner at a time (issue 12, items 3, 4, 5, 6).

- the outage journal names its database and never replays into another;
- one server per SQLite file; a second one fails at start with one clear line;
- `ganggpt restore` refuses while a server holds the database, unless forced;
- a server whose database is never reachable exits non-zero with one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from config import Config
from config.settings import default_journal_path
from server.persistence.commands import CommandError, backup, restore
from server.persistence.journal import JournalMismatch, journal_owner, journal_records
from server.persistence.owner import DatabaseInUse
from server.persistence.service import PersistenceService
from tests.e2e.support import REPO, ServerProcess, free_port, server_env


async def test_journal_never_replays_into_another_database(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    shared = str(tmp_path / "shared-journal")
    a = make_config(sqlite_path=str(tmp_path / "a.db"), journal_path=shared)
    b = make_config(sqlite_path=str(tmp_path / "b.db"), journal_path=shared)
    svc = PersistenceService(a, CollectorRegistry())
    await svc.start()
    svc.writer.mark_unavailable("test: pretend an outage")  # the next writes go to the journal
    p = await svc.load_or_create_player("only-in-a")
    await svc.abandon()  # killed during the outage: the journal keeps the write
    assert journal_records(shared) == 1
    before = Path(shared).read_bytes()

    other = PersistenceService(b, CollectorRegistry())
    with pytest.raises(JournalMismatch, match="JOURNAL_PATH") as err:
        await other.start()
    assert "\n" not in str(err.value) and "a.db" in str(err.value)
    assert Path(shared).read_bytes() == before  # kept as it was
    again = PersistenceService(b, CollectorRegistry())
    with pytest.raises(JournalMismatch):
        await again.start()  # the failed start released the file lock: same error, not "in use"

    owner = PersistenceService(a, CollectorRegistry())
    await owner.start()  # its own database: replayed
    rec = await owner.storage.player_by_name("only-in-a")
    assert rec is not None and rec.player_id == p.player_id
    assert journal_records(shared) == 0
    await owner.close()


def test_journal_path_is_per_database_by_default(make_config: Callable[..., Config]) -> None:
    a = make_config(journal_path=None, sqlite_path="/srv/a/world.db")
    assert default_journal_path(a) == "/srv/a/world.db.journal"
    pg1 = make_config(journal_path=None, database_url="postgresql://u:pw@db1:5432/game")
    pg2 = make_config(journal_path=None, database_url="postgresql://u:pw@db2:5432/game")
    assert default_journal_path(pg1) != default_journal_path(pg2)
    assert default_journal_path(pg1).startswith(os.path.abspath("data/journal-"))
    assert default_journal_path(make_config(journal_path="/x/j")) == "/x/j"


async def test_header_is_written_for_the_database(backend_config: Config) -> None:
    svc = PersistenceService(backend_config, CollectorRegistry())
    await svc.start()
    try:
        assert journal_owner(default_journal_path(backend_config)) == (
            await svc.storage.database_id()
        )
    finally:
        await svc.close()


async def test_second_server_on_one_sqlite_file_is_refused(
    make_config: Callable[..., Config],
) -> None:
    cfg = make_config()
    first = PersistenceService(cfg, CollectorRegistry())
    await first.start()
    second = PersistenceService(cfg, CollectorRegistry())
    with pytest.raises(DatabaseInUse, match=r"SQLITE_PATH .* is in use by another GangGPT server"):
        await second.start()
    await first.close()
    third = PersistenceService(cfg, CollectorRegistry())
    await third.start()  # the lock went with the first server
    await third.close()


async def test_servers_share_a_postgresql_database(
    make_config: Callable[..., Config], pg_url: str
) -> None:
    """PostgreSQL serves several instances: the servers' lock is shared."""
    cfg = make_config(database_url=pg_url)
    a = PersistenceService(cfg, CollectorRegistry())
    b = PersistenceService(cfg, CollectorRegistry())
    await a.start()
    await b.start()
    await a.close()
    await b.close()


async def test_restore_refuses_while_a_server_holds_the_database(
    backend_config: Config, tmp_path: Path
) -> None:
    cfg = backend_config
    svc = PersistenceService(cfg, CollectorRegistry())
    await svc.start()
    await svc.load_or_create_player("kept")
    await backup(cfg, str(tmp_path / "bk"))
    try:
        with pytest.raises(CommandError, match="--force"):
            await restore(cfg, str(tmp_path / "bk"))
    finally:
        await svc.close()
    # Stopped: it goes through.
    assert (await restore(cfg, str(tmp_path / "bk")))["database"] is True


async def test_restore_force_overrides_the_lock(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = make_config()
    svc = PersistenceService(cfg, CollectorRegistry())
    await svc.start()
    await backup(cfg, str(tmp_path / "bk"))
    try:
        assert (await restore(cfg, str(tmp_path / "bk"), force=True))["database"] is True
    finally:
        await svc.close()


def _run(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_unreachable_database_at_start_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    env = server_env(
        free_port(),
        tmp_path,
        DATABASE_URL=f"postgresql://admin:s3cretpw@127.0.0.1:{dead}/game",
        DATABASE_START_TIMEOUT="1",
        DATABASE_TIMEOUT="500",
    )
    t0 = time.monotonic()
    done = _run(env, timeout=60)
    assert done.returncode != 0
    assert time.monotonic() - t0 < 30
    err = done.stderr.strip().splitlines()
    assert err, done.stdout
    assert "DATABASE_URL" in err[-1] and "not reachable" in err[-1]
    assert "s3cretpw" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


async def test_second_server_process_on_one_sqlite_file_exits_with_one_line(
    tmp_path: Path,
) -> None:
    first = ServerProcess(server_env(free_port(), tmp_path), tmp_path / "first.log").start()
    try:
        await first.wait_serving(60)
        done = _run(server_env(free_port(), tmp_path), timeout=60)
        assert done.returncode != 0
        last = done.stderr.strip().splitlines()[-1]
        assert "SQLITE_PATH" in last and "in use by another GangGPT server" in last
        assert "Traceback" not in done.stderr
        assert first.running
    finally:
        first.stop()
