"""Prometheus metrics of persistence and cache, registered on the caller's registry.

Why on a registry passed in: the server exposes one registry on /metrics (server/metrics.py),
and tests run several services in one process; each service must report only its own numbers.
Gauges that describe current state (queue depth, oldest unpersisted change, journal size) are
computed when scraped, so they can never be stale.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PersistenceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.queue_depth = Gauge(
            "ganggpt_persist_queue_depth",
            "Writes waiting in memory: coalesced player snapshots plus queued writes.",
            registry=r,
        )
        self.oldest_unpersisted = Gauge(
            "ganggpt_persist_oldest_unpersisted_seconds",
            "Age of the oldest change not yet in the database (memory or journal); 0 when none.",
            registry=r,
        )
        self.write_seconds = Histogram(
            "ganggpt_persist_write_seconds",
            "Time to make one batch durable, by target (db, journal) and kind.",
            ["target", "kind"],
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.journal_records = Gauge(
            "ganggpt_persist_journal_records",
            "Records in the local journal waiting to be applied to the database.",
            registry=r,
        )
        self.journal_bytes = Gauge(
            "ganggpt_persist_journal_bytes", "Size of the local journal file.", registry=r
        )
        self.db_up = Gauge(
            "ganggpt_persist_db_up",
            "1 when the database takes writes, 0 during an outage.",
            registry=r,
        )
        self.snapshots_written = Counter(
            "ganggpt_persist_snapshots_written_total",
            "Player snapshots written to the database.",
            registry=r,
        )
        self.snapshots_dropped = Counter(
            "ganggpt_persist_snapshots_dropped_total",
            "Snapshots refused: queue full or non-finite values.",
            ["reason"],
            registry=r,
        )
        self.writes = Counter(
            "ganggpt_persist_writes_total",
            "Writes made durable, by where they went (db or journal).",
            ["target"],
            registry=r,
        )
        self.write_errors = Counter(
            "ganggpt_persist_write_errors_total",
            "Writes the database refused for a reason other than an outage.",
            registry=r,
        )
        self.outages = Counter(
            "ganggpt_persist_outages_total", "Times the database became unreachable.", registry=r
        )
        self.replayed = Counter(
            "ganggpt_persist_replayed_total", "Journal records applied to the database.", registry=r
        )
        self.rejected = Counter(
            "ganggpt_persist_rejected_total",
            "Journal records the database refused on replay (kept in <journal>.rejected).",
            registry=r,
        )
        self.ai_calls_dropped = Counter(
            "ganggpt_persist_ai_calls_dropped_total",
            "AI call rows not recorded, by reason (invalid, queue_full).",
            ["reason"],
            registry=r,
        )
        self.cache_requests = Counter(
            "ganggpt_cache_requests_total",
            "Cache lookups by layer (l1, l2) and result (hit, miss, error).",
            ["layer", "result"],
            registry=r,
        )
        self.redis_up = Gauge(
            "ganggpt_cache_redis_up",
            "1 when Redis answers, 0 when it is down (cache degraded), -1 when not configured.",
            registry=r,
        )
        self.redis_errors = Counter(
            "ganggpt_cache_redis_errors_total", "Redis calls that failed or timed out.", registry=r
        )

    def bind(
        self,
        *,
        queue_depth: Callable[[], float],
        oldest_unpersisted: Callable[[], float],
        journal_records: Callable[[], float],
        journal_bytes: Callable[[], float],
    ) -> None:
        self.queue_depth.set_function(queue_depth)
        self.oldest_unpersisted.set_function(oldest_unpersisted)
        self.journal_records.set_function(journal_records)
        self.journal_bytes.set_function(journal_bytes)
