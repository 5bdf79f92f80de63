"""AiService: what the game layer calls to make NPCs talk and to get missions.

Every call goes through the same gates, in order, and each refusal answers from the offline
grammar at once with a counted reason (outcome `fallback`):

    input moderation -> spend cap -> per-tier rate -> per-player and global slots
    -> circuit breaker -> provider (deadline AI_TIMEOUT over all SDK retries)
    -> character/leak check + output moderation (sentence by sentence when streaming)
    -> tool calls typed and checked by the game's ActionValidator

The service never touches the world or the tick: the game layer calls it from its AI workers
with snapshots (server/ai/context.py) and applies accepted actions itself. Each call ends in
exactly one `AiCallRecord` handed to the sink without waiting, one span, and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, StatusCode
from prometheus_client import CollectorRegistry

from config.settings import Config
from server.ai.actions import (
    ACTION_MODELS,
    ActionValidator,
    ProposedAction,
    RejectedAction,
    parse_tool_calls,
    tool_schemas,
)
from server.ai.breaker import STATE_VALUE, InvalidOutput, ProviderBreaker
from server.ai.calls import AiCallRecord, AiCallSink, MemoryCallSink, prompt_hash
from server.ai.context import DialogueContext, MissionContext
from server.ai.guard import BlocklistModeration, CharacterGuard, Moderator, NoModeration
from server.ai.limits import Limits, LimitSettings, Refused
from server.ai.memory import MemorySelection, select_memories
from server.ai.metrics import AiMetrics
from server.ai.missions import MissionSpec, check_against
from server.ai.offline import OfflineProvider, offline_mission, offline_reply, seed_of
from server.ai.prompt import dialogue_instructions, dialogue_messages, mission_messages
from server.ai.providers import Provider, ProviderFailing, build_provider
from server.ai.tracing import tracer_provider as make_tracer_provider
from server.ai.types import CallerInfo, Chunk, CompletionRequest, Outcome, Purpose, Usage
from server.cache.keys import CacheKeys
from server.cache.tiered import TieredCache

log = logging.getLogger("ganggpt.ai")

_SENTENCE_END = re.compile(r"(?<=[.!?*])\s+")
# How often a dialogue past AI_FALLBACK_AFTER looks again at whether its provider is failing.
FAILING_POLL = 0.1


@dataclass(frozen=True, slots=True)
class AiSettings:
    timeout: float = 15.0
    max_output_tokens: int = 300
    memory_token_budget: int = 600
    cache_ttl: float = 3600.0
    cost_in_per_1k: float = 0.0
    cost_out_per_1k: float = 0.0
    breaker_threshold: int = 5
    breaker_reset: float = 30.0
    fallback_after: float = 0.5

    @staticmethod
    def from_config(c: Config) -> AiSettings:
        return AiSettings(
            c.ai_timeout,
            c.ai_max_output_tokens,
            c.ai_memory_token_budget,
            c.ai_cache_ttl,
            c.ai_cost_input_per_1k,
            c.ai_cost_output_per_1k,
            c.ai_breaker_threshold,
            c.ai_breaker_reset,
            c.ai_fallback_after,
        )


def limit_settings(c: Config) -> LimitSettings:
    return LimitSettings(
        c.ai_max_concurrency,
        c.ai_player_concurrency,
        c.ai_queue_timeout,
        c.ai_rate_free,
        c.ai_rate_premium,
        c.ai_player_tokens_per_hour,
        c.ai_server_tokens_per_day,
    )


@dataclass(frozen=True, slots=True)
class DialogueDelta:
    """A piece of the NPC's line (whole sentences), to show as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class DialogueReply:
    """The final event of a talk. `replaced`: deltas were shown but must be replaced by `text`
    (the model failed or broke character mid-line); otherwise `text` is what the deltas said."""

    text: str
    outcome: Outcome
    reason: str
    provider: str
    model: str
    replaced: bool
    actions: tuple[ProposedAction, ...]
    rejected: tuple[RejectedAction, ...]
    memories_used: tuple[str, ...]
    memories_left_out: int
    usage: Usage
    prompt_hash: str
    first_token_ms: int | None
    latency_ms: int


DialogueEvent = DialogueDelta | DialogueReply


@dataclass(frozen=True, slots=True)
class MissionResult:
    spec: MissionSpec
    outcome: Outcome
    source: Literal["model", "cache", "offline"]
    reason: str
    prompt_hash: str
    attempts: int


@dataclass(slots=True)
class _Call:
    """What one call accumulates until it is recorded."""

    purpose: Purpose
    caller: CallerInfo
    phash: str
    span: Span
    provider: str
    model: str
    started: float = field(default_factory=time.monotonic)
    outcome: Outcome = "ok"
    reason: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    first_token: float | None = None

    def add(self, usage: Usage) -> None:
        self.tokens_in += usage.tokens_in
        self.tokens_out += usage.tokens_out

    @property
    def usage(self) -> Usage:
        return Usage(self.tokens_in, self.tokens_out)

    def ms(self, t: float | None = None) -> int:
        return int(((t if t is not None else time.monotonic()) - self.started) * 1000)


def _split_sentences(buf: str) -> tuple[list[str], str]:
    """Complete sentences in `buf`, and the unfinished rest."""
    parts = _SENTENCE_END.split(buf)
    return [p for p in parts[:-1] if p], parts[-1]


class AiService:
    def __init__(
        self,
        provider: Provider,
        *,
        settings: AiSettings | None = None,
        limits: LimitSettings | None = None,
        metrics: AiMetrics | None = None,
        cache: TieredCache | None = None,
        cache_keys: CacheKeys | None = None,
        sink: AiCallSink | None = None,
        moderator: Moderator | None = None,
        validator: ActionValidator | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.provider = provider
        self.offline = OfflineProvider()
        self.is_offline = isinstance(provider, OfflineProvider)
        self.s = settings or AiSettings()
        self.limits = Limits(limits or LimitSettings())
        self.metrics = metrics or AiMetrics()
        self.cache = cache
        self.keys = cache_keys or (cache.keys if cache is not None else CacheKeys())
        self.sink: AiCallSink = sink if sink is not None else MemoryCallSink()
        self.moderator: Moderator = moderator or NoModeration()
        self.validator = validator
        self.tracer = (tracer_provider or make_tracer_provider("none")).get_tracer("ganggpt.ai")
        self.breaker = ProviderBreaker(
            provider.name, self.s.breaker_threshold, self.s.breaker_reset
        )
        self.metrics.watch(
            provider.name,
            lambda: STATE_VALUE[self.breaker.state],
            lambda: self.limits.in_flight,
            lambda: self.limits.waiting,
        )

    @classmethod
    def from_config(
        cls,
        config: Config,
        registry: CollectorRegistry,
        *,
        cache: TieredCache | None = None,
        sink: AiCallSink | None = None,
        validator: ActionValidator | None = None,
        moderator: Moderator | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> AiService:
        if moderator is None and config.ai_moderation == "blocklist":
            moderator = BlocklistModeration(config.ai_moderation_words.split(","))
        return cls(
            build_provider(config),
            settings=AiSettings.from_config(config),
            limits=limit_settings(config),
            metrics=AiMetrics(registry),
            cache=cache,
            sink=sink,
            moderator=moderator,
            validator=validator,
            tracer_provider=tracer_provider or make_tracer_provider(config.otel_exporter),
        )

    async def close(self) -> None:
        await self.provider.close()

    def health(self) -> dict[str, Any]:
        """The /health check entry: degraded while the breaker keeps the model out."""
        state = self.breaker.state
        return {
            "name": "ai",
            "status": "degraded" if state == "open" else "ok",
            "details": {
                "provider": self.provider.name,
                "model": self.provider.model,
                "breaker": state,
                "answering": "offline" if self.is_offline or state == "open" else "model",
                "in_flight": self.limits.in_flight,
                "waiting": self.limits.waiting,
            },
        }

    # --- shared steps ----------------------------------------------------------------------

    def _start(self, purpose: Purpose, caller: CallerInfo, phash: str) -> _Call:
        span = self.tracer.start_span(
            f"ai.{purpose}",
            attributes={
                "gen_ai.system": self.provider.name,
                "gen_ai.request.model": self.provider.model,
                "ai.purpose": purpose,
                "ai.prompt_hash": phash,
                "ai.tier": caller.tier,
            },
        )
        return _Call(purpose, caller, phash, span, self.provider.name, self.provider.model)

    async def _admit(self, caller: CallerInfo) -> None:
        self.limits.check_spend(caller)
        await self.limits.take_rate(caller)

    def _charge(self, call: _Call, usage: Usage) -> None:
        call.add(usage)
        self.limits.charge(call.caller, usage.total)
        m = self.metrics
        m.tokens.labels(call.provider, "in").inc(usage.tokens_in)
        m.tokens.labels(call.provider, "out").inc(usage.tokens_out)
        cost = (
            usage.tokens_in * self.s.cost_in_per_1k + usage.tokens_out * self.s.cost_out_per_1k
        ) / 1000
        if cost and not self.is_offline:
            m.cost.labels(call.provider).inc(cost)

    def _failed(self, call: _Call, err: BaseException) -> None:
        """Classify a provider failure into the call's outcome."""
        if isinstance(err, Refused):
            call.outcome, call.reason = "fallback", err.reason
        elif isinstance(err, InvalidOutput):
            call.outcome, call.reason = "invalid", str(err) or "invalid"
            self.metrics.invalid.labels(call.purpose, call.reason.split(":")[0]).inc()
        elif isinstance(err, TimeoutError | openai.APITimeoutError):
            call.outcome, call.reason = "timeout", "timeout"
        elif isinstance(err, ProviderFailing):
            call.outcome, call.reason = "error", "failing"
            log.warning("ai %s call gave way to offline: the provider is failing", call.purpose)
        else:
            kind = (
                f"http_{err.status_code}"
                if isinstance(err, openai.APIStatusError)
                else type(err).__name__
            )
            call.outcome, call.reason = "error", kind
            log.warning("ai %s call failed: %s", call.purpose, kind)
        if call.outcome in ("timeout", "error"):
            self.metrics.errors.labels(call.provider, call.purpose, call.reason).inc()
        if call.outcome != "invalid":
            self.metrics.fallbacks.labels(call.provider, call.purpose, call.reason).inc()

    def _finish(self, call: _Call, *, count: bool = True) -> None:
        latency = time.monotonic() - call.started
        m = self.metrics
        if count:
            m.requests.labels(call.provider, call.purpose, call.outcome).inc()
            m.latency.labels(call.provider, call.purpose).observe(latency)
        span = call.span
        span.set_attribute("ai.outcome", call.outcome)
        span.set_attribute("ai.reason", call.reason)
        span.set_attribute("gen_ai.usage.input_tokens", call.tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", call.tokens_out)
        if call.outcome in ("timeout", "error"):
            span.set_status(StatusCode.ERROR, call.reason)
        span.end()
        try:
            self.sink.record(
                AiCallRecord(
                    provider=call.provider,
                    model=call.model,
                    purpose=call.purpose,
                    prompt_hash=call.phash,
                    tokens_in=call.tokens_in,
                    tokens_out=call.tokens_out,
                    latency_ms=int(latency * 1000),
                    outcome=call.outcome,
                    player_id=call.caller.player_id,
                    npc_id=call.caller.npc_id,
                    reason=call.reason,
                )
            )
        except Exception:
            # A sink must not fail a reply; a broken one is a bug to see in the logs.
            log.exception("ai call sink failed")
            m.records_dropped.inc()

    # --- memories and embeddings -----------------------------------------------------------

    def select_memories(
        self, ctx: DialogueContext, query_embedding: Sequence[float] | None = None
    ) -> MemorySelection:
        return select_memories(
            ctx.memories, ctx.player_text, self.s.memory_token_budget, query_embedding
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]] | None:
        """Embeddings for memory relevance, or None (offline, not configured, or failing:
        the caller then scores relevance lexically)."""
        if self.is_offline or self.breaker.state == "open":
            return None
        try:
            async with asyncio.timeout(self.s.timeout):
                return await self.provider.embed(texts)
        except Exception as err:
            log.warning("embeddings failed: %s", type(err).__name__)
            return None

    # --- dialogue --------------------------------------------------------------------------

    async def talk(
        self,
        ctx: DialogueContext,
        caller: CallerInfo,
        *,
        actions: Sequence[str] | None = None,
        query_embedding: Sequence[float] | None = None,
        validator: ActionValidator | None = None,
    ) -> DialogueReply:
        """The NPC's whole reply (the streamed path, drained)."""
        final: DialogueReply | None = None
        async with aclosing(
            self.talk_stream(
                ctx,
                caller,
                actions=actions,
                query_embedding=query_embedding,
                validator=validator,
            )
        ) as events:
            async for ev in events:
                if isinstance(ev, DialogueReply):
                    final = ev
        assert final is not None
        return final

    async def talk_stream(
        self,
        ctx: DialogueContext,
        caller: CallerInfo,
        *,
        actions: Sequence[str] | None = None,
        query_embedding: Sequence[float] | None = None,
        validator: ActionValidator | None = None,
    ) -> AsyncGenerator[DialogueEvent, None]:
        """`DialogueDelta`s (whole sentences, each checked before it is yielded), then one
        `DialogueReply`. Closing the iterator (player walked away, new message) cancels the
        provider request; the call is then recorded with reason `cancelled`.

        `actions`: the tools offered (all by default, none with `()`); the offline provider
        gets them too and proposes some by itself. `validator` (else the service's) decides
        which proposals may happen; the game layer passes one bound to this conversation.

        Use as `async with contextlib.aclosing(svc.talk_stream(...)) as events:`."""
        selection = self.select_memories(ctx, query_embedding)
        if selection.left_out:
            self.metrics.memories_left_out.inc(selection.left_out)
        used = replace(ctx, memories=tuple(s.memory for s in selection.included))
        messages = dialogue_messages(used, selection)
        phash = prompt_hash(self.provider.model, "dialogue", messages)
        seed = seed_of(phash)
        req = CompletionRequest(
            "dialogue",
            messages,
            max_tokens=self.s.max_output_tokens,
            tools=tool_schemas(actions),
            seed=seed,
            dialogue=used,
        )
        call = self._start("dialogue", caller, phash)
        shown: list[str] = []
        final: Chunk | None = None
        try:
            verdict = await self.moderator.check(ctx.player_text, "input")
            if not verdict.allowed:
                self.metrics.moderated.labels("input").inc()
                raise Refused("moderated_input")
            if not self.is_offline:
                await self._admit(caller)
            async with aclosing(self._model_stream(req, call)) as chunks:
                async for chunk in chunks:
                    if chunk.final is not None:
                        final = chunk
                        continue
                    shown.append(chunk.delta)
                    yield DialogueDelta(chunk.delta if len(shown) == 1 else " " + chunk.delta)
        except (GeneratorExit, asyncio.CancelledError):
            call.outcome, call.reason = "error", "cancelled"
            self._finish(call, count=False)
            raise
        except Exception as err:
            self._failed(call, err)
        accepted: tuple[ProposedAction, ...] = ()
        rejected: tuple[RejectedAction, ...] = ()
        if call.outcome == "ok" and (final is None or final.final is None):
            self._failed(call, InvalidOutput("no_final"))
        elif (
            call.outcome == "ok"
            and not shown
            and final
            and final.final
            and not final.final.tool_calls
        ):
            # Nothing to say and nothing to do: a silent NPC looks like a bug to the player.
            self._failed(call, InvalidOutput("empty"))
        if call.outcome == "ok" and final is not None and final.final is not None:
            text = " ".join(shown)
            accepted, rejected = await self._check_actions(
                final.final.tool_calls, caller, validator or self.validator
            )
        else:
            text = offline_reply(used, seed)
        self._finish(call)
        if call.first_token is not None:
            self.metrics.first_token.labels(call.provider, "dialogue").observe(
                call.first_token - call.started
            )
        replaced = call.outcome != "ok" and bool(shown)
        if call.outcome != "ok" and not shown:
            for i, s in enumerate(_split_sentences(text + " ")[0] or [text]):
                yield DialogueDelta(s if i == 0 else " " + s)
        yield DialogueReply(
            text=text,
            outcome=call.outcome,
            reason=call.reason,
            provider=call.provider if call.outcome == "ok" else self.offline.name,
            model=call.model if call.outcome == "ok" else self.offline.model,
            replaced=replaced,
            actions=accepted,
            rejected=rejected,
            memories_used=tuple(s.memory.memory_id for s in selection.included),
            memories_left_out=selection.left_out,
            usage=call.usage,
            prompt_hash=phash,
            first_token_ms=call.ms(call.first_token) if call.first_token is not None else None,
            latency_ms=call.ms(),
        )

    async def _model_stream(
        self, req: CompletionRequest, call: _Call
    ) -> AsyncGenerator[Chunk, None]:
        """Checked sentences from the provider, then its final chunk. Raises what failed."""
        assert req.dialogue is not None
        guard = CharacterGuard(dialogue_instructions(req.dialogue.persona))
        said: list[str] = []

        async def check(sentence: str) -> None:
            problem = guard.problem(" ".join([*said, sentence]))
            if problem is None and not (await self.moderator.check(sentence, "output")).allowed:
                self.metrics.moderated.labels("output").inc()
                problem = "moderated_output"
            if problem is not None:
                raise InvalidOutput(problem)
            said.append(sentence)

        gates = (
            contextlib.nullcontext()
            if self.is_offline
            else _both(self.limits.slot(call.caller), self.breaker.guard())
        )
        if not self.is_offline and (self.breaker.suspect or self.provider.failing):
            # The provider just failed: fail fast into the offline line, no retry backoff
            # while a player waits (missions, which nobody watches, keep their retries).
            req = replace(req, retries=0)
        async with gates:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.s.timeout
            buf = ""
            answering = self.is_offline or self.s.fallback_after <= 0
            async with aclosing(self.provider.stream(req)) as it:
                while True:
                    # The deadline covers waiting on the provider only, never our yields, so
                    # it cannot fire into the consumer's code.
                    if answering:
                        async with asyncio.timeout_at(deadline):
                            chunk = await anext(it, None)
                    else:
                        chunk = await self._first_chunk(it, call, deadline)
                        answering = True
                    if chunk is None:
                        break
                    if chunk.final is not None:
                        self._charge(call, chunk.final.usage)
                        rest = buf.strip()
                        if rest:
                            await check(rest)
                            yield Chunk(delta=rest)
                        buf = ""
                        yield chunk
                        continue
                    if call.first_token is None and chunk.delta.strip():
                        call.first_token = time.monotonic()
                    buf += chunk.delta
                    sentences, buf = _split_sentences(buf)
                    for s in sentences:
                        await check(s)
                        yield Chunk(delta=s)

    async def _first_chunk(
        self, it: AsyncGenerator[Chunk, None], call: _Call, deadline: float
    ) -> Chunk | None:
        """The provider's first chunk for this call, as `anext` would return it, except that
        once AI_FALLBACK_AFTER seconds have passed since the talk, a provider whose last
        answer was an error (the SDK backing off before a retry) gives way to the offline
        line: a player waiting for an NPC never waits out the retries. A provider that is
        merely slow keeps the whole AI_TIMEOUT. Once the stream has started, the provider is
        answering and this no longer applies."""
        loop = asyncio.get_running_loop()
        patience_at = loop.time() + (call.started + self.s.fallback_after - time.monotonic())
        nxt = asyncio.ensure_future(anext(it, None))
        try:
            while True:
                now = loop.time()
                if now >= deadline:
                    raise TimeoutError
                wake = patience_at if now < patience_at else now + FAILING_POLL
                done, _ = await asyncio.wait((nxt,), timeout=min(wake, deadline) - now)
                if done:
                    return nxt.result()
                p = self.provider
                if loop.time() >= patience_at and p.failing and p.failed_at >= call.started:
                    raise ProviderFailing
        finally:
            if not nxt.done():
                # The generator must be done unwinding before `aclosing` may close it.
                nxt.cancel()
                await asyncio.wait((nxt,))
            if not nxt.cancelled():
                nxt.exception()  # retrieved (it is re-raised by `result` when it matters)

    async def _check_actions(
        self, calls: Sequence[Any], caller: CallerInfo, validator: ActionValidator | None
    ) -> tuple[tuple[ProposedAction, ...], tuple[RejectedAction, ...]]:
        proposed, rejected = parse_tool_calls(
            calls, npc_id=caller.npc_id, player_id=caller.player_id
        )
        accepted: list[ProposedAction] = []
        for bad in rejected:
            self.metrics.actions.labels(_label(bad.name), "proposed").inc()
        for a in proposed:
            self.metrics.actions.labels(a.name, "proposed").inc()
            if validator is None:
                accepted.append(a)
                continue
            verdict = await validator.validate(a)
            if verdict.ok:
                accepted.append(a)
            else:
                rejected.append(RejectedAction(a.name, a.call_id, verdict.reason or "rejected"))
        for a in accepted:
            self.metrics.actions.labels(a.name, "accepted").inc()
        for bad in rejected:
            self.metrics.actions.labels(_label(bad.name), "rejected").inc()
            log.info("ai action rejected: %s (%s)", bad.name, bad.reason)
        return tuple(accepted), tuple(rejected)

    # --- missions --------------------------------------------------------------------------

    async def generate_mission(self, ctx: MissionContext, caller: CallerInfo) -> MissionResult:
        """A mission from the model (validated, retried once), the response cache, or the
        offline templates; always one that passes `check_against(spec, ctx)`."""
        messages = mission_messages(ctx)
        phash = prompt_hash(self.provider.model, "mission", messages)
        seed = seed_of(phash, caller.player_id)
        call = self._start("mission", caller, phash)
        key = self.keys.ai_response(phash)
        attempts = 0
        try:
            if not self.is_offline and self.cache is not None:
                found, value = await self.cache.get(key)
                spec = _cached_mission(value, ctx) if found else None
                self.metrics.cache.labels("mission", "hit" if spec else "miss").inc()
                if spec is not None:
                    call.reason = "cache_hit"
                    self.metrics.missions.labels("cache").inc()
                    return MissionResult(spec, "ok", "cache", call.reason, phash, 0)
            if self.is_offline:
                self.metrics.missions.labels("offline").inc()
                return MissionResult(offline_mission(ctx, seed), "ok", "offline", "", phash, 0)
            req = CompletionRequest(
                "mission",
                messages,
                max_tokens=max(self.s.max_output_tokens, 600),
                temperature=0.9,
                seed=seed,
                response_format=MissionSpec,
                mission=ctx,
            )
            await self._admit(caller)
            deadline = asyncio.get_running_loop().time() + self.s.timeout
            async with self.limits.slot(caller):
                for _ in range(2):
                    attempts += 1
                    try:
                        spec = await self._one_mission(req, ctx, call, deadline)
                    except InvalidOutput as err:
                        self._failed(call, err)
                        continue
                    call.outcome, call.reason = "ok", ""
                    if self.cache is not None:
                        await self.cache.set(key, spec.model_dump(mode="json"), self.s.cache_ttl)
                    self.metrics.missions.labels("model").inc()
                    return MissionResult(spec, "ok", "model", "", phash, attempts)
        except Exception as err:
            self._failed(call, err)
        finally:
            self._finish(call)
        self.metrics.missions.labels("offline").inc()
        spec = offline_mission(ctx, seed)
        return MissionResult(spec, call.outcome, "offline", call.reason, phash, attempts)

    async def _one_mission(
        self, req: CompletionRequest, ctx: MissionContext, call: _Call, deadline: float
    ) -> MissionSpec:
        async with self.breaker.guard(), asyncio.timeout_at(deadline):
            done = await self.provider.complete(req)
        self._charge(call, done.usage)
        spec = done.parsed
        if not isinstance(spec, MissionSpec):
            raise InvalidOutput("schema")
        problems = check_against(spec, ctx)
        if problems:
            raise InvalidOutput("world:" + problems[0])
        verdict = await self.moderator.check(f"{spec.title}\n{spec.description}", "output")
        if not verdict.allowed:
            self.metrics.moderated.labels("output").inc()
            raise InvalidOutput("moderated_output")
        return spec


@contextlib.asynccontextmanager
async def _both(
    a: AbstractAsyncContextManager[None], b: AbstractAsyncContextManager[None]
) -> AsyncIterator[None]:
    async with a, b:
        yield


def _label(name: str) -> str:
    """Metric label for an action name: unknown names collapse, so labels stay bounded."""
    return name if name in ACTION_MODELS else "unknown"


def _cached_mission(value: Any, ctx: MissionContext) -> MissionSpec | None:
    try:
        spec = MissionSpec.model_validate(value)
    except Exception:
        return None
    return spec if not check_against(spec, ctx) else None
