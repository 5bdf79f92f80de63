"""Database outage and crash recovery, for real: PostgreSQL behind a proxy the test cuts.

The issue asks for a 30 s cut; the test scales it to GANGGPT_TEST_OUTAGE_SECONDS (default 3 s)
to keep the suite fast. Nothing in the code depends on the length: set the variable to 30 to
run the full-length version.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from config import Config
from server.persistence.api import PlayerSnapshot
from server.persistence.owner import StartupError
from server.persistence.pg_storage import PostgresStorage
from server.persistence.service import PersistenceService
from tests.persistence.conftest import eventually
from tests.persistence.tcp_proxy import TcpProxy

OUTAGE_SECONDS = float(os.environ.get("GANGGPT_TEST_OUTAGE_SECONDS", "3"))
TICK = 1 / 60


def via(url: str, port: int) -> str:
    p = urlsplit(url)
    netloc = p.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


class FakeGame:
    """A 60 Hz tick that moves players and snapshots them, like the realtime core does, and
    records how late each tick ran (a blocked event loop shows up as lateness)."""

    def __init__(self, svc: PersistenceService, players: list[str]) -> None:
        self.svc = svc
        self.players = players
        self.money = dict.fromkeys(players, 0)
        self.ticks = 0
        self.worst_lateness = 0.0
        self.last_x: dict[str, float] = {}
        self.running = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        since_snapshot = 0.0
        while self.running:
            next_at += TICK
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self.worst_lateness = max(self.worst_lateness, loop.time() - next_at)
            self.ticks += 1
            since_snapshot += TICK
            if since_snapshot >= self.svc.config.snapshot_interval:
                since_snapshot = 0.0
                now = time.time()
                snaps = []
                for i, pid in enumerate(self.players):
                    x = float(self.ticks + i)
                    self.last_x[pid] = x
                    snaps.append(
                        PlayerSnapshot(pid, x, 1.0, 2.0, 0.0, 100, 0, self.money[pid], now)
                    )
                self.svc.submit_snapshots(snaps)

    async def reward(self, pid: str, amount: int, reason: str) -> str:
        self.money[pid] += amount  # live state first, then make it durable
        return await self.svc.change_money(pid, amount, reason)


async def test_database_cut_mid_run_loses_no_acknowledged_write(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    cfg = make_config(database_url=via(pg_url, proxy.port), database_timeout=1000)
    reg = CollectorRegistry()
    svc = PersistenceService(cfg, reg)
    await svc.start()
    ids = [(await svc.load_or_create_player(f"racer{i}")).player_id for i in range(20)]
    game = FakeGame(svc, ids)
    tick = asyncio.create_task(game.run())
    acked: list[str] = []
    banker = ids[0]

    async def keep_rewarding(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            acked.append(await game.reward(banker, len(acked) + 1, f"reward {len(acked)}"))
            await asyncio.sleep(0.01)

    await keep_rewarding(0.5)
    before = len(acked)
    proxy.cut()
    outage_end = time.monotonic() + OUTAGE_SECONDS
    await keep_rewarding(0.3)
    assert svc.health()["database"]["status"] == "degraded"
    late_joiner = await svc.load_or_create_player("joined-during-outage")
    returning = await svc.load_or_create_player("racer5")  # known here: served from memory
    assert returning.player_id == ids[5] and returning.has_position
    await keep_rewarding(max(0.0, outage_end - time.monotonic()))
    during = len(acked) - before
    text = generate_latest(reg).decode()
    assert "ganggpt_persist_db_up 0.0" in text
    assert svc.journal.records > 0 and svc.writer.oldest_age() > 0
    proxy.restore()
    await eventually(
        lambda: svc.health()["database"]["status"] == "ok" and svc.journal.records == 0,
        timeout=15,
        what="journal replayed after the database came back",
    )
    await keep_rewarding(0.3)
    game.running = False
    await tick
    await svc.close()
    await proxy.close()

    direct = PostgresStorage(pg_url)
    await direct.open()
    try:
        ledger = await direct.ledger(banker)
        assert [e.event_id for e in ledger] == acked  # all of them, in acknowledgement order
        assert [e.delta for e in ledger] == list(range(1, len(acked) + 1))
        rec = await direct.player(banker)
        assert rec is not None and rec.money == sum(range(1, len(acked) + 1))
        for pid in ids:
            p = await direct.player(pid)
            assert p is not None and p.x == game.last_x[pid]  # the last snapshot of each player
        assert (await direct.player(late_joiner.player_id)) is not None
    finally:
        await direct.close()
    assert during > 10, "writes were acknowledged during the outage"
    # The tick never waited for the database: 60 Hz kept on time throughout.
    assert game.worst_lateness < 0.1, f"tick was {game.worst_lateness * 1000:.1f} ms late"
    print(
        f"\noutage {OUTAGE_SECONDS:.1f}s: {len(acked)} money writes acked ({during} during the cut),"
        f" worst tick lateness {game.worst_lateness * 1000:.1f} ms over {game.ticks} ticks"
    )


async def test_crash_during_outage_replays_journal_on_start(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    cfg = make_config(database_url=via(pg_url, proxy.port), database_timeout=1000)
    svc = PersistenceService(cfg)
    await svc.start()
    p = await svc.load_or_create_player("crashy")
    await svc.change_money(p.player_id, 10, "before")
    proxy.cut()
    await svc.change_money(p.player_id, 20, "during 1")  # acknowledged: fsync'd to the journal
    await svc.change_money(p.player_id, 30, "during 2")
    newcomer = await svc.load_or_create_player("newcomer")
    svc.submit_snapshots([PlayerSnapshot(p.player_id, 7.0, 8.0, 9.0, 1.0, 55, 5, 60, time.time())])
    await eventually(lambda: svc.writer.queue_depth() == 0, what="snapshot spilled to journal")
    assert svc.journal.records >= 4
    await svc.abandon()  # kill -9: nothing flushed, nothing closed cleanly
    proxy.restore()

    svc2 = PersistenceService(cfg)
    await svc2.start()  # replays the journal before it serves
    assert svc2.journal.records == 0
    back = await svc2.load_or_create_player("crashy")
    assert back.player_id == p.player_id and back.has_position
    assert (back.x, back.y, back.z, back.health, back.armor, back.money) == (7, 8, 9, 55, 5, 60)
    assert [e.reason for e in await svc2.ledger(p.player_id)] == ["before", "during 1", "during 2"]
    assert (await svc2.load_or_create_player("newcomer")).player_id == newcomer.player_id
    await svc2.close()
    await proxy.close()


async def test_database_down_at_start_fails_after_a_bounded_retry(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    """Never reachable: no "degraded forever" server; one line naming DATABASE_URL, no password."""
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    proxy.cut()
    url = via(pg_url, proxy.port).replace("postgres@", "postgres:s3cretpw@", 1)
    cfg = make_config(database_url=url, database_timeout=500, database_start_timeout=1.0)
    svc = PersistenceService(cfg)
    t0 = time.monotonic()
    with pytest.raises(StartupError) as err:
        await svc.start()
    assert time.monotonic() - t0 < 10
    msg = str(err.value)
    assert "DATABASE_URL" in msg and "DATABASE_START_TIMEOUT" in msg and "\n" not in msg
    assert "s3cretpw" not in msg and "postgres:***@" in msg
    assert not svc.started
    await proxy.close()


async def test_database_back_within_the_start_timeout_starts(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    proxy.cut()
    cfg = make_config(
        database_url=via(pg_url, proxy.port), database_timeout=500, database_start_timeout=30
    )
    svc = PersistenceService(cfg)
    starting = asyncio.create_task(svc.start())
    await asyncio.sleep(0.5)
    assert not starting.done()  # still retrying
    proxy.restore()
    await asyncio.wait_for(starting, 20)
    assert svc.health()["database"]["status"] == "ok"
    p = await svc.load_or_create_player("early")
    assert (await svc.get_player(p.player_id)) is not None
    await svc.close()
    await proxy.close()


async def test_close_during_outage_keeps_everything_in_the_journal(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    cfg = make_config(database_url=via(pg_url, proxy.port), database_timeout=1000)
    svc = PersistenceService(cfg)
    await svc.start()
    p = await svc.load_or_create_player("closer")
    proxy.blackhole()  # connections hang instead of failing fast
    svc.submit_snapshots([PlayerSnapshot(p.player_id, 3.0, 3.0, 3.0, 0.0, 100, 0, 0, time.time())])
    t0 = time.monotonic()
    await svc.close()  # SIGTERM path: must not hang on the database
    assert time.monotonic() - t0 < 5
    proxy.restore()
    svc2 = PersistenceService(cfg)
    await svc2.start()
    back = await svc2.load_or_create_player("closer")
    assert back.has_position and back.x == 3.0
    await svc2.close()
    await proxy.close()


async def test_hanging_database_does_not_hold_up_acknowledgements(
    pg_url: str, make_config: Callable[..., Config]
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    cfg = make_config(database_url=via(pg_url, proxy.port), database_timeout=1000)
    svc = PersistenceService(cfg)
    await svc.start()
    p = await svc.load_or_create_player("patient")
    proxy.blackhole()  # packets go nowhere: every database call waits for DATABASE_TIMEOUT
    t0 = time.monotonic()
    await svc.change_money(p.player_id, 1, "first")  # detects the outage: one timeout
    detect = time.monotonic() - t0
    assert svc.writer.outage and detect < 3.0
    slowest = 0.0
    for i in range(20):  # probes hang meanwhile, on their own task
        t0 = time.monotonic()
        await svc.change_money(p.player_id, 1, f"next {i}")
        slowest = max(slowest, time.monotonic() - t0)
        await asyncio.sleep(0.05)
    assert slowest < 0.3, f"an acknowledgement took {slowest * 1000:.0f} ms during the outage"
    proxy.restore()
    await eventually(lambda: not svc.writer.outage, timeout=15, what="replayed")
    assert len(await svc.ledger(p.player_id)) == 21
    await svc.close()
    await proxy.close()
