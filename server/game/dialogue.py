"""NPC conversations: a `talk` becomes a streamed reply, off the tick, one per player.

The `talk` handler only validates (the NPC is in view) and calls `Conversations.start`, which
runs the conversation as a task of its own:

1. build the dialogue context (one synchronous read of the world, then the memory and
   relationship reads: `server.gameplay.dialogue_context.build_dialogue_context`);
2. stream the reply with `AiService.talk_stream`: every sentence goes to the player as an
   `npc_say_part` as soon as it is checked, then the whole line as `npc_say` (SPEC §4.3);
3. apply the actions the reply carried, once the server checked them against the world
   (`server.game.npc_actions`): the checks run inside `talk_stream`, before its final event;
   the final `npc_say` lists what was applied; a mission offer follows on a task of its own;
4. remember the exchange (`remember_conversation`), so the NPC knows the player next time.

Why a task per conversation rather than one queue worker: a model answer takes seconds, and
one slow NPC must not hold up everyone else's. The tasks are bounded all the same: at most one
per player (a new `talk` cancels that player's previous one, the player leaving cancels it
too), and the AI service's own slots and queue timeout bound the provider calls in flight.
Walking away cancels a reply: before each part is sent the NPC must still be in the player's
view (the same rule as `talk`); otherwise the reply is dropped, nothing more is sent and the
provider request is closed.

The services are built once per server here (`Conversations.build`), from the config: the AI
service (with the persistence's cache when it has one, and a sink that writes every AI call
to `repos.ai_calls`), NPC memory and relationships.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from protocol import control
from protocol.catalogue import EntityKind
from server.ai import (
    AiCallRecord,
    AiService,
    CallerInfo,
    DialogueContext,
    DialogueDelta,
    DialogueReply,
)
from server.cache.tiered import TieredCache
from server.game.events import NpcTalked, PlayerLeft
from server.game.npc_actions import ActionMetrics, MissionDesk, NpcActions
from server.game.player import Player
from server.gameplay.companions import CompanionService
from server.gameplay.dialogue_context import (
    FactionNews,
    build_dialogue_context,
    describe_place,
    persona_of,
    remember_conversation,
)
from server.gameplay.memory import MemoryMetrics, MemoryService, MemorySettings
from server.gameplay.relationships import RelationshipService
from server.gameplay.rumours import RumourMill, RumourSettings
from server.persistence.models import AiCall
from server.persistence.repos import AiCallRepository

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.dialogue")

# How long a new talk waits for the player's previous one to finish remembering (a storage
# write), so the NPC's mood and trust already count the last exchange.
REMEMBER_WAIT = 2.0

RESULTS = ("replied", "cancelled", "walked_away", "left", "failed")

# A whole talk takes from ~10 ms (an offline or fallback answer) to the provider's timeout;
# fine steps up to the 1 s a fallback is allowed, so that target is read at its resolution.
TALK_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 8.0, 13.0, 21.0,
    34.0,
)  # fmt: skip


class RepoCallSink:
    """`AiCallSink` over the persistence's `ai_calls` repository: its `record` only queues
    (write-behind), so handing each record straight over never blocks a reply."""

    def __init__(self, repo: AiCallRepository) -> None:
        self.repo = repo
        self.on_drop: Callable[[], object] | None = None

    def record(self, call: AiCallRecord) -> None:
        row = AiCall(
            provider=call.provider,
            model=call.model,
            purpose=call.purpose,
            prompt_hash=call.prompt_hash,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            latency_ms=call.latency_ms,
            outcome=call.outcome,
            player_id=call.player_id,
            npc_id=call.npc_id,
            created_at=_timestamp(call.created_at),
        )
        if not self.repo.record(row) and self.on_drop is not None:
            self.on_drop()


def _timestamp(at: datetime) -> float:
    return at.timestamp()


class DialogueMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "ganggpt_npc_talks_active",
            "NPC conversations in progress (at most one per player).",
            registry=registry,
        )
        self.talks = Counter(
            "ganggpt_npc_talks_total",
            "NPC conversations by how they ended: replied, cancelled (a newer talk),"
            " walked_away, left (the player left), failed.",
            ["result"],
            registry=registry,
        )
        self.talk_seconds = Histogram(
            "ganggpt_npc_talk_seconds",
            "Time from a talk received to its final npc_say sent, for talks that were replied"
            " (the model's reply or an offline fallback alike).",
            buckets=TALK_BUCKETS,
            registry=registry,
        )
        self.parts = Counter(
            "ganggpt_npc_say_parts_total",
            "Streamed reply parts (npc_say_part) sent to players.",
            registry=registry,
        )
        for r in RESULTS:
            self.talks.labels(r)


class Conversations:
    def __init__(
        self,
        game: Game,
        ai: AiService,
        memory: MemoryService,
        relationships: RelationshipService,
        news: FactionNews,
        metrics: DialogueMetrics,
        rumours: RumourMill | None = None,
        action_metrics: ActionMetrics | None = None,
    ) -> None:
        self.game = game
        self.ai = ai
        self.memory = memory
        self.relationships = relationships
        self.news = news
        self.metrics = metrics
        # Work a talk left behind (mission offers being generated), for shutdown.
        self._asides: set[asyncio.Task[None]] = set()
        self.actions = NpcActions(
            game,
            memory,
            relationships,
            rumours or RumourMill(),
            self.mission_desk,
            action_metrics or ActionMetrics(game.state.metrics.registry),
        )
        self._ids = itertools.count(1)
        # player_id -> (player, task) of the reply still being streamed; a newer talk cancels it.
        self._talking: dict[str, tuple[Player, asyncio.Task[None]]] = {}
        # Every task not yet finished (streaming or remembering), for shutdown.
        self._tasks: set[asyncio.Task[None]] = set()
        # player_id -> that player's newest task, until it is done (one per player).
        self._latest: dict[str, asyncio.Task[None]] = {}
        self._owner: dict[asyncio.Task[None], str] = {}
        self._upkeep: asyncio.Task[None] | None = None
        # Set by the game once companions exist: a companion answers as itself.
        self.companions: CompanionService | None = None
        game.bus.subscribe(PlayerLeft, self._player_left, name="dialogue")

    @classmethod
    def build(cls, game: Game) -> Conversations:
        """The server's AI and memory services, from its config (fails at start, naming the
        variable, when the selected AI provider is not configured)."""
        st = game.state
        registry = st.metrics.registry
        repos = st.persistence.repos
        cache = getattr(st.persistence, "cache", None)
        sink = RepoCallSink(repos.ai_calls)
        ai = AiService.from_config(
            st.config,
            registry,
            cache=cache if isinstance(cache, TieredCache) else None,
            sink=sink,
        )
        sink.on_drop = ai.metrics.records_dropped.inc
        mem_metrics = MemoryMetrics(registry)
        rumours = RumourMill(RumourSettings.from_config(st.config))
        memory = MemoryService(
            repos, MemorySettings.from_config(st.config), rumours=rumours, metrics=mem_metrics
        )
        relationships = RelationshipService(repos.npc_relationships, metrics=mem_metrics)
        return cls(
            game,
            ai,
            memory,
            relationships,
            FactionNews(),
            DialogueMetrics(registry),
            rumours,
            ActionMetrics(registry),
        )

    def mission_desk(self) -> MissionDesk:
        """The game's mission desk (`game.missions`, built right after the conversations)."""
        return self.game.missions

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._upkeep is None:
            self._upkeep = asyncio.get_running_loop().create_task(
                self.memory.run(), name="ganggpt-memory-upkeep"
            )

    def _aside(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` on a task of its own, cancelled by `stop`."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._asides.add(task)
        task.add_done_callback(self._asides.discard)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._asides]
        if self._upkeep is not None:
            tasks.append(self._upkeep)
            self._upkeep = None
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._talking.clear()
        self._latest.clear()
        self._owner.clear()
        await self.ai.close()

    # --- talking -----------------------------------------------------------------------------

    def start_talk(self, player: Player, npc: int, text: str) -> int:
        """Answer `player` saying `text` to NPC `npc` (already checked to be in view) on a
        task of its own; cancels the player's previous reply. Returns the reply id."""
        self.cancel(player, "cancelled")
        previous = self._latest.get(player.player_id)
        reply_id = next(self._ids)
        received = time.perf_counter()
        task = asyncio.get_running_loop().create_task(
            self._talk(player, npc, text, reply_id, previous, received),
            name=f"ganggpt-talk-{reply_id}",
        )
        self._talking[player.player_id] = (player, task)
        self._latest[player.player_id] = task
        self._owner[task] = player.player_id
        self._tasks.add(task)
        self.metrics.active.inc()
        task.add_done_callback(self._done)
        return reply_id

    def cancel(self, player: Player, result: str) -> asyncio.Task[None] | None:
        """Stop the reply `player` is waiting for, if any (counted under `result`); returns
        its task, which still has to unwind."""
        entry = self._talking.get(player.player_id)
        if entry is None or entry[0] is not player:
            return None
        del self._talking[player.player_id]
        entry[1].cancel()
        self.metrics.talks.labels(result).inc()
        return entry[1]

    def _release(self, player: Player, result: str | None) -> None:
        """The reply streaming for `player` is over (from inside its own task)."""
        entry = self._talking.get(player.player_id)
        if entry is not None and entry[0] is player and entry[1] is asyncio.current_task():
            del self._talking[player.player_id]
        if result is not None:
            self.metrics.talks.labels(result).inc()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        pid = self._owner.pop(task, None)
        if pid is not None and self._latest.get(pid) is task:
            del self._latest[pid]
        self.metrics.active.dec()
        if not task.cancelled() and task.exception() is not None:
            log.error("NPC conversation failed", exc_info=task.exception())
            self.metrics.talks.labels("failed").inc()

    def _player_left(self, ev: PlayerLeft) -> None:
        self.cancel(ev.player, "left")

    def _in_view(self, player: Player, npc: int, key: str) -> bool:
        """Still a conversation: the player is playing, and sees the same NPC (a net id may
        be reused by another NPC after a despawn)."""
        if not player.active or player.client.closing:
            return False
        w = self.game.state.world
        if w.kind[npc] != EntityKind.NPC or not w.grid.sees(
            int(w.cell[player.nid]), int(w.cell[npc])
        ):
            return False
        ident = w.identity(npc)
        return ident is not None and ident.key == key

    async def _talk(
        self,
        player: Player,
        npc: int,
        text: str,
        reply_id: int,
        previous: asyncio.Task[None] | None,
        received: float,
    ) -> None:
        try:
            if previous is not None:
                # A cancelled reply gives the provider request and the player's AI slot back
                # while it unwinds (starting before would find the player busy); a finished
                # one may still be storing the exchange the new context should include.
                await asyncio.wait((previous,), timeout=REMEMBER_WAIT)
            await self._converse(player, npc, text, reply_id, received)
        finally:
            self._release(player, None)

    async def _converse(
        self, player: Player, npc: int, text: str, reply_id: int, received: float
    ) -> None:
        w = self.game.state.world
        ident = w.identity(npc)
        if ident is None:
            return
        try:
            ctx = await build_dialogue_context(
                w,
                self.game.state.persistence.repos,
                npc,
                player,
                text,
                memory=self.memory,
                relationships=self.relationships,
                news=self.news,
                companions=self.companions,
            )
        except Exception as err:
            # Storage is down: the NPC still answers, without its memories of the player.
            log.warning("dialogue context without memories for %s: %r", player, err)
            ctx = DialogueContext(
                persona=persona_of(ident),
                player_id=player.player_id,
                player_name=player.name,
                player_text=text,
                location=describe_place(w, npc, player.nid),
            )
        if ctx is None:
            return
        caller = CallerInfo.from_scopes(player.player_id, ctx.persona.npc_id, player.permissions)
        final: DialogueReply | None = None
        seq = 0
        send = self.game.delivery.to_player
        acts = self.actions.bind(player, npc, ident)
        async with aclosing(self.ai.talk_stream(ctx, caller, validator=acts)) as events:
            async for ev in events:
                if not self._in_view(player, npc, ident.key):
                    # Leaving the block closes the stream, which cancels the provider request.
                    self._release(player, "walked_away")
                    return
                if isinstance(ev, DialogueDelta):
                    seq += 1
                    send(player, control.NpcSayPart(npc, player.nid, reply_id, seq, ev.text))
                    self.metrics.parts.inc()
                else:
                    final = ev
        if final is None or not self._in_view(player, npc, ident.key):
            self._release(player, "walked_away")
            return
        # The reply is out: a newer talk must no longer cancel what follows (remembering it).
        self._release(player, "replied")
        self.actions.count_reply(final.actions, final.rejected)
        applied = self.actions.apply(acts, final.actions)
        self.game.bus.publish(
            NpcTalked(
                player,
                npc,
                text,
                final.text,
                reply_id=reply_id,
                replaced=final.replaced,
                actions=tuple(a.name for a in applied),
            )
        )
        # Publishing NpcTalked queued the final npc_say: the whole talk as the player waits
        # for it (the previous reply's unwinding and the context reads included).
        self.metrics.talk_seconds.observe(time.perf_counter() - received)
        # A mission offer may take a model call of its own: on a task of its own, so the
        # player's next talk (which waits for this one to be remembered) does not wait for it.
        offers = [a for a in applied if a.name == "offer_mission"]
        await self.actions.finish(acts, [a for a in applied if a not in offers])
        if offers:
            self._aside(self.actions.finish(acts, offers), f"ganggpt-offer-{reply_id}")
        try:
            await remember_conversation(self.memory, self.relationships, ctx, final.text)
        except Exception as err:  # storage trouble: the player has the reply all the same
            log.warning("conversation of %s with %s not remembered: %r", player, npc, err)
