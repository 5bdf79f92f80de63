"""The `metrics` push reads its figures from the metric objects (prometheus_client
internals) instead of collecting the registry: these tests hold those reads to what
`collect()` reports, so a prometheus_client upgrade that moves the internals fails here."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from server.admin.metrics_view import MetricsView, Reads
from tests.server.game_fakes import make_state


class CollectedReads:
    """The reads as the push made them before: one `collect()` of the whole registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def _samples(self, name: str) -> list[Any]:
        return next((f.samples for f in self.registry.collect() if f.name == name), [])

    def buckets(self, name: str) -> list[tuple[float, float]]:
        acc: dict[float, float] = {}
        for s in self._samples(name):
            if s.name == name + "_bucket":
                le = float(s.labels["le"])
                acc[le] = acc.get(le, 0.0) + s.value
        return sorted(acc.items())

    def total(self, name: str) -> float:
        return float(sum(s.value for s in self._samples(name) if s.name == name + "_total"))


def test_reads_agree_with_collect() -> None:
    r = CollectorRegistry()
    plain = Histogram("plain_seconds", "", buckets=(0.001, 0.01, 0.1), registry=r)
    labelled = Histogram("lab_seconds", "", ["a", "b"], buckets=(0.5, 1.0, 2.0), registry=r)
    Histogram("unused_seconds", "", ["a"], registry=r)  # labelled, no series yet
    count = Counter("hits", "", registry=r)
    by = Counter("by_total", "", ["k"], registry=r)
    Counter("none_total", "", ["k"], registry=r)
    new, old = Reads(r), CollectedReads(r)

    def agree() -> None:
        for h in ("plain_seconds", "lab_seconds", "unused_seconds", "missing_seconds"):
            assert new.buckets(h) == old.buckets(h), h
        for c in ("hits", "by", "none", "missing"):
            assert new.total(c) == old.total(c), c

    agree()
    for v in (0.0005, 0.004, 0.05, 3.0, 0.05):
        plain.observe(v)
    for i, v in enumerate((0.2, 0.7, 1.5, 9.0, 0.7, 1.1)):
        labelled.labels(str(i % 2), str(i % 3)).observe(v)
    count.inc(3)
    by.labels("x").inc(0.1)
    by.labels("y").inc(0.2)
    by.labels("z").inc(1e-7)
    agree()
    assert new.buckets("plain_seconds")[-1] == (float("inf"), 5.0)
    assert new.total("by") == 0.1 + 0.2 + 1e-7


def test_a_registered_metric_is_found_after_the_first_read() -> None:
    """The AI layer registers its metrics after the admin console is built."""
    r = CollectorRegistry()
    reads = Reads(r)
    assert reads.total("late") == 0.0 and reads.buckets("late_seconds") == []
    Counter("late", "", registry=r).inc(2)
    Histogram("late_seconds", "", buckets=(1.0,), registry=r).observe(0.5)
    assert reads.total("late") == 2.0
    assert reads.buckets("late_seconds") == [(1.0, 1.0), (float("inf"), 1.0)]


def test_the_push_is_what_collecting_the_registry_gave() -> None:
    """Same payload, second after second, as the push that collected the whole registry."""
    st = make_state()
    ai = st.game.talks.ai.metrics
    new, old = MetricsView(st), MetricsView(st)
    old.reads = CollectedReads(st.metrics.registry)  # type: ignore[assignment]
    assert new.sample() == old.sample()
    for second in range(3):
        for v in (0.001, 0.003, 0.0041, 0.02)[second:]:
            st.metrics.tick_seconds.observe(v)
            st.metrics.flush_seconds.observe(v / 2)
            st.metrics.tick_lag_seconds.observe(v / 3)
        for purpose in ("dialogue", "mission")[second % 2 :]:
            ai.requests.labels("offline", purpose, "ok").inc()
            ai.errors.labels("openai", purpose, "timeout").inc()
            ai.fallbacks.labels("openai", purpose, "breaker").inc()
            ai.first_token.labels("offline", purpose).observe(0.3 * (second + 1))
            ai.tokens.labels("offline", "in").inc(17)
            ai.cost.labels("openai").inc(0.000123)
        got = new.sample()
        assert got == old.sample()
        assert got["tick_ms"]["p99"] is not None and got["ai"]["calls"] > 0
