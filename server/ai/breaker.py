"""The circuit breaker in front of a model provider, on `purgatory`.

Why purgatory: it is maintained, typed, asyncio-native and used as an async context manager,
which also works around a streamed reply (the context spans the whole stream). Only provider
failures count: timeouts, connection errors, 408/429 after the SDK's retries and 5xx. A
cancelled or abandoned stream (the player walked away), a 4xx that is our request's fault, and
an answer we rejected (`InvalidOutput`) say nothing about the provider's health and are excluded.

States: closed (calls go through), open (calls are refused at once and offline answers, for
AI_BREAKER_RESET seconds), half-open (the next call is a trial: success closes, failure opens).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import openai
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import Context, OpenedState

from server.ai.limits import Refused

BreakerState = Literal["closed", "open", "half-open"]
STATE_VALUE: dict[BreakerState, int] = {"closed": 0, "half-open": 1, "open": 2}


class InvalidOutput(Exception):
    """The model answered, but not with something usable (schema, refusal, character break)."""


def _not_the_providers_fault(err: BaseException) -> bool:
    return (
        isinstance(err, openai.APIStatusError)
        and err.status_code < 500
        and err.status_code not in (408, 429)
    )


class ProviderBreaker:
    def __init__(self, name: str, threshold: int, reset_seconds: float) -> None:
        self.name = name
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold,
            default_ttl=reset_seconds,
            exclude=[
                asyncio.CancelledError,
                GeneratorExit,
                InvalidOutput,
                Refused,
                (openai.APIStatusError, _not_the_providers_fault),
            ],
        )
        self._context: Context | None = None

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block as one call through the breaker; `Refused("breaker_open")` when open."""
        brk = await self._factory.get_breaker(self.name)
        self._context = brk.context
        try:
            async with brk:
                yield
        except OpenedState:
            raise Refused("breaker_open") from None

    @property
    def suspect(self) -> bool:
        """The provider failed lately: not closed, or closed with failures counted. A player
        waiting for an NPC then gets the offline line at once instead of after the SDK's
        retry backoff (the service asks for no retries); the count decides the rest."""
        ctx = self._context
        return ctx is not None and (ctx.state != "closed" or bool(ctx.failure_count))

    @property
    def state(self) -> BreakerState:
        ctx = self._context
        if ctx is None or ctx.state == "closed":
            return "closed"
        if ctx.state == "half-opened":
            return "half-open"
        opened = ctx.opened_at or 0.0
        # Purgatory moves to half-open lazily, on the next call; report it as it will act.
        return "half-open" if time.time() > opened + ctx.ttl else "open"
