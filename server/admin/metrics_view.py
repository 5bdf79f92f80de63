"""The `metrics` push and `server.metrics`: a one-second view of the server's Prometheus
registry, so the console shows the same figures `/metrics` exports and nothing is measured
twice. Histogram quantiles are over the observations since the previous sample (bucket
deltas, interpolated inside a bucket like PromQL's histogram_quantile).

Why the values are read from the metric objects rather than collected: collecting the whole
registry (process collector, every labelled histogram) cost ~2.5-4 ms of the event loop each
second with a console open, and even collecting just the nine families shown builds hundreds
of samples. The push needs ~10 numbers; reading them costs tens of microseconds. The reads
use prometheus_client's metric internals (`_metrics`, `_buckets`, `_value`), kept to the few
functions below; tests/admin/test_metrics_view.py pins them to what `collect()` reports.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from server.state import ServerState


# A value's float is read as `_value` rather than through `get()`: the lock `get()` takes is
# most of a read's cost, and one attribute read cannot see a half-written float (the GIL).


def _series(metric: Any) -> list[Any]:
    """The metric's children (one per label set), or the metric itself when unlabelled."""
    if not metric._labelnames:
        return [metric]
    with metric._lock:  # as collect() does: labels may be added from another thread
        return list(metric._metrics.values())


class Reads:
    """Values of named metrics of one registry, read without collecting. A name is looked up
    until its metric is registered (the AI layer registers after the admin console starts),
    then kept."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._found: dict[str, Any] = {}

    def _metric(self, name: str) -> Any:
        metric = self._found.get(name)
        if metric is None:
            # Counters are registered under their name with and without `_total`.
            metric = self.registry._names_to_collectors.get(name)
            if metric is not None:
                self._found[name] = metric
        return metric

    def buckets(self, name: str) -> list[tuple[float, float]]:
        """Cumulative (upper bound, count) of histogram `name`, summed over its labels."""
        metric = self._metric(name)
        if metric is None:
            return []
        children = _series(metric)
        if not children:
            return []
        bounds: list[float] = metric._upper_bounds  # sorted, shared by every child
        counts = [0.0] * len(bounds)
        for child in children:
            running = 0.0
            for i, value in enumerate(child._buckets):
                running += value._value
                counts[i] += running
        return list(zip(bounds, counts, strict=True))

    def total(self, name: str) -> float:
        """The sum of counter `name` over its labels."""
        metric = self._metric(name)
        if metric is None:
            return 0.0
        return float(sum(child._value._value for child in _series(metric)))


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of cumulative buckets; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            span = count - lower_count
            frac = 0.0 if span <= 0 else (rank - lower_count) / span
            return lower_bound + (bound - lower_bound) * frac
        lower_bound, lower_count = bound, count
    return lower_bound


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 3)


HISTOGRAMS = {
    "tick": "ganggpt_tick_duration_seconds",
    "flush": "ganggpt_flush_duration_seconds",
    "lag": "ganggpt_tick_lag_seconds",
    "ttft": "ganggpt_ai_first_token_seconds",
}


class MetricsView:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.reads = Reads(state.metrics.registry)
        self._last: dict[str, list[tuple[float, float]]] = {}

    def _window(self, key: str) -> list[tuple[float, float]]:
        now = self.reads.buckets(HISTOGRAMS[key])
        before = dict(self._last.get(key, []))
        self._last[key] = now
        delta = [(b, c - before.get(b, 0.0)) for b, c in now]
        if delta and delta[-1][1] > 0:
            return delta
        return now  # nothing new this second: the figures since the start

    def sample(self) -> dict[str, Any]:
        st = self.state
        total = self.reads.total
        tick, flush, lag, ttft = (self._window(k) for k in ("tick", "flush", "lag", "ttft"))
        rtts = [
            float(ms)
            for p in st.players.values()
            if (ms := getattr(p.client, "rtt_ms", None)) is not None
        ]
        return {
            "tick_ms": {"p50": _ms(quantile(tick, 0.5)), "p99": _ms(quantile(tick, 0.99))},
            "flush_ms": {"p50": _ms(quantile(flush, 0.5)), "p99": _ms(quantile(flush, 0.99))},
            "tick_lag_ms": {"p50": _ms(quantile(lag, 0.5)), "p99": _ms(quantile(lag, 0.99))},
            "players": st.player_count,
            "npcs": int(st.world.npcs.alive.sum()),
            "latency_ms": {"p50": _pct(rtts, 0.5), "p99": _pct(rtts, 0.99)},
            "ai": {
                "calls": total("ganggpt_ai_requests"),
                "ttft_ms_p50": _ms(quantile(ttft, 0.5)),
                "errors": total("ganggpt_ai_errors"),
                "fallbacks": total("ganggpt_ai_fallbacks"),
                "tokens": total("ganggpt_ai_tokens"),
                "cost_usd": round(total("ganggpt_ai_cost_usd"), 6),
            },
            "draining": st.draining,
        }
