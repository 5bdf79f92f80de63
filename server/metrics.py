"""Prometheus metrics, one registry for the process.

Why a registry of our own rather than the global default: tests start several servers in one
process, and each must report only its own numbers; every module takes `METRICS` from the
`ServerState` it belongs to instead of importing globals. The process and platform collectors
are registered on each registry too, so `/metrics` carries `process_*` (CPU, RSS, open files).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# A `_created` series per counter and histogram doubles the scrape for a timestamp nobody
# graphs (Prometheus derives resets itself). This is process-wide in prometheus_client.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Fine around the 8 ms target, so p99 is read to half a millisecond.
TICK_BUCKETS = (
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.0025,
    0.003,
    0.0035,
    0.004,
    0.0045,
    0.005,
    0.0055,
    0.006,
    0.007,
    0.008,
    0.009,
    0.010,
    0.0125,
    0.015,
    0.0167,
    0.020,
    0.025,
    0.033,
    0.05,
    0.1,
)


class Tally(Collector):
    """A counter for the per-message path: `inc` adds to a Python int, where prometheus_client's
    Counter takes a lock per call (~0.4 us, as much as decoding an INPUT); the registry reads it
    at scrape time, as the same `_total` series. Only the event loop's thread may `inc` it."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0
        registry.register(self)

    def inc(self) -> None:
        self.value += 1

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=float(self.value))


class Metrics:
    """All realtime metrics. Persistence and cache add theirs to `registry`."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.tick_seconds = Histogram(
            "ganggpt_tick_duration_seconds",
            "Time spent in one simulation tick: simulation and frame assembly; socket writes are"
            " in ganggpt_flush_duration_seconds.",
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.flush_seconds = Histogram(
            "ganggpt_flush_duration_seconds",
            "Time spent writing one tick's frames to sockets (after the tick).",
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.tick_lag_seconds = Histogram(
            "ganggpt_tick_lag_seconds",
            "How late each tick started against its deadline.",
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.gc_seconds = Histogram(
            "ganggpt_gc_pause_seconds",
            "Garbage collector pauses, by generation.",
            ["generation"],
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.held = Tally(
            "ganggpt_held_reads_total",
            "Socket reads (or losses) put off until just after a due tick.",
            r,
        )
        self.tick_overruns = Counter(
            "ganggpt_tick_overruns_total",
            "Ticks that took longer than the tick interval.",
            registry=r,
        )
        self.ticks = Counter("ganggpt_ticks_total", "Simulation ticks run.", registry=r)
        self.clients = Gauge("ganggpt_connected_clients", "Clients past the handshake.", registry=r)
        self.spectators = Gauge(
            "ganggpt_spectators", "Administrators' cameras watching the world.", registry=r
        )
        self.entities = Gauge("ganggpt_entities", "Live entities by kind.", ["kind"], registry=r)
        self.frames_sent = Counter("ganggpt_frames_sent_total", "STATE frames sent.", registry=r)
        self.bytes_sent = Counter(
            "ganggpt_bytes_sent_total", "Payload bytes of STATE frames sent.", registry=r
        )
        self.frames_skipped = Counter(
            "ganggpt_frames_coalesced_total", "Patches skipped for slow readers.", registry=r
        )
        self.frames_empty = Counter(
            "ganggpt_frames_empty_skipped_total",
            "Patches not sent because they carried nothing.",
            registry=r,
        )
        self.full_snapshots = Counter(
            "ganggpt_full_snapshots_total", "FULL snapshot frames sent.", registry=r
        )
        self.inputs = Counter("ganggpt_inputs_total", "INPUT frames accepted.", registry=r)
        self.errors = Counter(
            "ganggpt_protocol_errors_total", "Error messages sent to clients.", ["code"], registry=r
        )
        self.closes = Counter(
            "ganggpt_closes_total", "Connections closed by the server.", ["code"], registry=r
        )
        self.frames_in_flight = Gauge(
            "ganggpt_frames_in_flight_max",
            "Most STATE frames any client has not yet acknowledged.",
            registry=r,
        )
        self.connections_refused = Counter(
            "ganggpt_connections_refused_total",
            "Connections and handshakes refused, by reason (ip_connections: over"
            " MAX_CONNECTIONS_PER_IP; handshake_rate: over HANDSHAKES_PER_IP; origin: Origin not"
            " in CORS_ORIGINS; path; full; auth; name; ...).",
            ["reason"],
            registry=r,
        )
        self.resume_ignored = Counter(
            "ganggpt_resume_ignored_total",
            "Hellos whose resume token was another player's (left to its owner; joined fresh).",
            registry=r,
        )
        # transport limits
        self.http_refused = Counter(
            "ganggpt_http_requests_refused_total",
            "HTTP requests refused before routing (too_large: head over HTTP_REQUEST_MAX;"
            " malformed: not a valid HTTP request; method: 405, a method the path does not"
            " serve; path: 404 for a method other than GET on a path that serves nothing).",
            ["reason"],
            registry=r,
        )
        self.slow_clients = Counter(
            "ganggpt_slow_client_closes_total",
            "Clients closed with 4006 (queue_full: over CLIENT_SEND_QUEUE_MAX held by the server;"
            " behind: unacknowledged data for SLOW_CLIENT_TIMEOUT).",
            ["reason"],
            registry=r,
        )
        self.connection_errors = Counter(
            "ganggpt_connection_errors_total",
            "Connections dropped because handling their bytes raised (a server bug; logged once).",
            registry=r,
        )

        # --- the game layer (server/game) ---
        self.events_published = Counter(
            "ganggpt_events_published_total",
            "Domain events published, by type.",
            ["type"],
            registry=r,
        )
        self.event_queue_depth = Gauge(
            "ganggpt_event_queue_depth",
            "Events waiting in an event worker's queue.",
            ["worker"],
            registry=r,
        )
        self.events_dropped = Counter(
            "ganggpt_events_dropped_total",
            "Events an event worker's full queue dropped (its overflow policy).",
            ["worker"],
            registry=r,
        )
        self.game_handler_seconds = Histogram(
            "ganggpt_game_handler_seconds",
            "Time in game code: event subscribers, message handlers, timers, workers.",
            ["handler"],
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.game_handler_overruns = Counter(
            "ganggpt_game_handler_overruns_total",
            "Game handler calls that took longer than GAME_HANDLER_BUDGET_MS.",
            ["handler"],
            registry=r,
        )
        self.game_handler_errors = Counter(
            "ganggpt_game_handler_errors_total",
            "Game handler calls that raised.",
            ["handler"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
