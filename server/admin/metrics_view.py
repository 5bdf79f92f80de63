"""The `metrics` push and `server.metrics`: a one-second view of the server's Prometheus
registry, so the console shows the same figures `/metrics` exports and nothing is measured
twice. Histogram quantiles are over the observations since the previous sample (bucket
deltas, interpolated inside a bucket like PromQL's histogram_quantile)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from server.state import ServerState


def _buckets(registry: CollectorRegistry, name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) of histogram `name`, summed over its labels."""
    acc: dict[float, float] = {}
    for family in registry.collect():
        if family.name != name:
            continue
        for s in family.samples:
            if s.name == name + "_bucket":
                le = float(s.labels["le"])
                acc[le] = acc.get(le, 0.0) + s.value
    return sorted(acc.items())


def _total(registry: CollectorRegistry, name: str) -> float:
    out = 0.0
    for family in registry.collect():
        if family.name == name:
            out += sum(s.value for s in family.samples if s.name in (name, name + "_total"))
    return out


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
        self._last: dict[str, list[tuple[float, float]]] = {}

    def _window(self, key: str) -> list[tuple[float, float]]:
        now = _buckets(self.state.metrics.registry, HISTOGRAMS[key])
        before = dict(self._last.get(key, []))
        self._last[key] = now
        delta = [(b, c - before.get(b, 0.0)) for b, c in now]
        if delta and delta[-1][1] > 0:
            return delta
        return now  # nothing new this second: the figures since the start

    def sample(self) -> dict[str, Any]:
        st = self.state
        reg = st.metrics.registry
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
                "calls": _total(reg, "ganggpt_ai_requests"),
                "ttft_ms_p50": _ms(quantile(ttft, 0.5)),
                "errors": _total(reg, "ganggpt_ai_errors"),
                "fallbacks": _total(reg, "ganggpt_ai_fallbacks"),
                "tokens": _total(reg, "ganggpt_ai_tokens"),
                "cost_usd": round(_total(reg, "ganggpt_ai_cost_usd"), 6),
            },
            "draining": st.draining,
        }
