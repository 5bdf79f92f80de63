"""OpenTelemetry for AI calls: one span per call, exported only when OTEL_EXPORTER says so.

Why a tracer provider of our own rather than the global one: like the metrics registry, each
server instance (and test) keeps its own; an operator who runs an OpenTelemetry distro can
still pass theirs to AiService.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter


def tracer_provider(exporter: str) -> TracerProvider:
    provider = TracerProvider()
    if exporter == "console":
        # Batched: exporting never happens on the reply path.
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider
