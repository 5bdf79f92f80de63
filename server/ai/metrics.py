"""Prometheus metrics of the AI layer, registered on the registry passed in.

Why on a registry passed in: each server instance (and each test) exposes only its own
numbers (see server/metrics.py). Gauges that describe current state (breaker, in flight,
waiting) are read when scraped, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0)


class AiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "ganggpt_ai_requests_total",
            "AI calls by provider, purpose and outcome (ok, timeout, error, fallback, invalid).",
            ["provider", "purpose", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "ganggpt_ai_errors_total",
            "Failed provider calls by provider, purpose and kind.",
            ["provider", "purpose", "kind"],
            registry=r,
        )
        self.fallbacks = Counter(
            "ganggpt_ai_fallbacks_total",
            "Calls answered offline instead of by the provider, by reason.",
            ["provider", "purpose", "reason"],
            registry=r,
        )
        self.first_token = Histogram(
            "ganggpt_ai_first_token_seconds",
            "Time from the request to the first streamed text.",
            ["provider", "purpose"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "ganggpt_ai_latency_seconds",
            "Time from the request to the complete answer.",
            ["provider", "purpose"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "ganggpt_ai_tokens_total",
            "Tokens spent, by provider and direction (in, out).",
            ["provider", "direction"],
            registry=r,
        )
        self.cost = Counter(
            "ganggpt_ai_cost_usd_total",
            "Estimated spend from AI_COST_INPUT_PER_1K and AI_COST_OUTPUT_PER_1K.",
            ["provider"],
            registry=r,
        )
        self.cache = Counter(
            "ganggpt_ai_cache_requests_total",
            "Response cache lookups (ai:response:{hash}) by result (hit, miss).",
            ["purpose", "result"],
            registry=r,
        )
        self.invalid = Counter(
            "ganggpt_ai_invalid_outputs_total",
            "Model answers rejected, by purpose and reason; each is retried or replaced.",
            ["purpose", "reason"],
            registry=r,
        )
        self.missions = Counter(
            "ganggpt_ai_missions_generated_total",
            "Missions generated, by source (model, cache, offline).",
            ["source"],
            registry=r,
        )
        self.actions = Counter(
            "ganggpt_ai_actions_total",
            "Actions proposed by the model, by action and result (proposed, accepted, rejected).",
            ["action", "result"],
            registry=r,
        )
        self.moderated = Counter(
            "ganggpt_ai_moderated_total",
            "Texts the moderation step rejected, by direction (input, output).",
            ["direction"],
            registry=r,
        )
        self.memories_left_out = Counter(
            "ganggpt_ai_memories_left_out_total",
            "Memories that did not fit the prompt's token budget.",
            registry=r,
        )
        self.records_dropped = Counter(
            "ganggpt_ai_call_records_dropped_total",
            "AI call records lost because the record queue was full or the write failed.",
            registry=r,
        )
        self.breaker = Gauge(
            "ganggpt_ai_breaker_state",
            "Circuit breaker of the provider: 0 closed, 1 half-open, 2 open (offline answers).",
            ["provider"],
            registry=r,
        )
        self.in_flight = Gauge(
            "ganggpt_ai_in_flight", "AI calls waiting on the provider now.", registry=r
        )
        self.queue_depth = Gauge(
            "ganggpt_ai_queue_depth", "AI calls waiting for a concurrency slot.", registry=r
        )

    def watch(
        self,
        provider: str,
        breaker: Callable[[], float],
        in_flight: Callable[[], float],
        waiting: Callable[[], float],
    ) -> None:
        self.breaker.labels(provider).set_function(breaker)
        self.in_flight.set_function(in_flight)
        self.queue_depth.set_function(waiting)
