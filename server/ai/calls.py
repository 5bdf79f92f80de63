"""The record of every AI call, handed to a sink that must never block a reply.

Why a protocol with a synchronous, non-blocking `record`: the reply path must not await a
database; a sink queues the record and writes it later (the storage layer's `ai_calls`
repository behind `BatchingCallSink`, or memory in tests). A full queue drops the record and
counts it rather than slowing a player's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson

from server.ai.types import Message, Outcome, Purpose

log = logging.getLogger("ganggpt.ai")


def prompt_hash(model: str, purpose: Purpose, messages: Sequence[Message]) -> str:
    """Stable digest of what the model was asked (the response cache key, and the record's)."""
    payload = orjson.dumps([model, purpose, [[m.role, m.content] for m in messages]])
    return hashlib.sha256(payload).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AiCallRecord:
    provider: str
    model: str
    purpose: Purpose
    prompt_hash: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    outcome: Outcome
    player_id: str | None = None
    npc_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Why the outcome is what it is (e.g. breaker_open, spend_cap_player, character_break).
    reason: str = ""


class AiCallSink(Protocol):
    def record(self, call: AiCallRecord) -> None:
        """Take the record without blocking (no await, no I/O)."""


class MemoryCallSink:
    """Keeps the last `size` records: tests, and a server without persistence."""

    def __init__(self, size: int = 10_000) -> None:
        self.records: deque[AiCallRecord] = deque(maxlen=size)

    def record(self, call: AiCallRecord) -> None:
        self.records.append(call)


class BatchingCallSink:
    """Queues records and writes them in batches with `write` on a background task.

    The bridge to persistence: `write` is the storage layer's bulk insert. A failed write is
    logged and its batch dropped (counted in `dropped`); the AI path never sees the error.
    """

    def __init__(
        self,
        write: Callable[[list[AiCallRecord]], Awaitable[None]],
        *,
        maxsize: int = 10_000,
        batch: int = 200,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._write = write
        self._queue: asyncio.Queue[AiCallRecord] = asyncio.Queue(maxsize)
        self._batch = batch
        self._on_drop = on_drop
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def record(self, call: AiCallRecord) -> None:
        try:
            self._queue.put_nowait(call)
        except asyncio.QueueFull:
            self._drop(1)

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self._on_drop is not None:
            self._on_drop(n)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ganggpt-ai-calls")

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await self._flush([first])

    async def _flush(self, items: list[AiCallRecord]) -> None:
        while len(items) < self._batch and not self._queue.empty():
            items.append(self._queue.get_nowait())
        try:
            await self._write(items)
        except Exception as err:
            log.warning("ai call records lost: %d (%s)", len(items), type(err).__name__)
            self._drop(len(items))
        finally:
            for _ in items:
                self._queue.task_done()

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (waiting at most `timeout` seconds), then stop the writer."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
