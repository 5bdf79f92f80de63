"""Everything an NPC's reply needs, assembled for `AiService.talk_stream`, and remembered after.

    ctx = await build_dialogue_context(world, repos, npc_nid, player, "Seen Big Smoke?",
                                       memory=mem, relationships=rels, news=news)
    async for ev in ai.talk_stream(ctx, caller): ...
    await remember_conversation(mem, rels, ctx, reply.text, outcome="friendly")

The context carries the persona (name, role, faction, personality, mood towards this
player), where the NPC is, the relationship, recent news of its faction (`FactionNews`, a
small ring the integrator feeds with gameplay events) and every memory candidate of this NPC
(its own rows only: what it witnessed, was told or said); `talk_stream` scores them and
packs them under AI_MEMORY_TOKEN_BUDGET, counting what was left out.

World reads (identity, positions) happen first, synchronously, in one go: the context is a
snapshot of one moment between ticks, and no await sits inside the read.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from cachetools import LRUCache

from server.ai.context import DialogueContext, NpcPersona
from server.gameplay.events import FactionChanged, GameplayEvent, RelationshipChanged
from server.gameplay.memory import MemoryService, clip
from server.gameplay.relationships import (
    CONVERSATION_OUTCOMES,
    RelationshipService,
    for_prompt,
    mood,
)
from server.persistence.repos import Repositories
from server.world.identity import NpcIdentity

if TYPE_CHECKING:
    from server.gameplay.companions import CompanionService
    from server.world.world import World


class PlayerRef(Protocol):
    """What the dialogue needs of a player (server.game's Player has it)."""

    @property
    def player_id(self) -> str: ...
    @property
    def nid(self) -> int: ...
    @property
    def name(self) -> str: ...


# --- personality of generated NPCs -------------------------------------------------------
TRAITS = (
    "guarded",
    "talkative",
    "hot-headed",
    "suspicious",
    "easygoing",
    "greedy",
    "loyal",
    "nervous",
    "sarcastic",
    "proud",
    "curious",
    "weary",
)


def personality_of(ident: NpcIdentity) -> str:
    """Pinned NPCs keep their written personality; generated ones get two traits from their
    seed (stable across restarts, like the rest of their identity)."""
    if ident.personality:
        return clip(ident.personality, 400)
    a = TRAITS[ident.seed % len(TRAITS)]
    b = TRAITS[(ident.seed // len(TRAITS)) % len(TRAITS)]
    return a if a == b else f"{a}, {b}"


def _label(slug: str) -> str:
    return slug.replace("_", " ")


def persona_of(ident: NpcIdentity, npc_mood: str = "calm") -> NpcPersona:
    return NpcPersona(
        npc_id=ident.key,
        name=ident.name,
        role=_label(ident.role),
        faction=None if ident.faction in ("", "none") else _label(ident.faction),
        personality=personality_of(ident),
        mood=npc_mood,
    )


# --- faction news ------------------------------------------------------------------------
class FactionNews:
    """Recent events per faction, newest last, for NPC prompts: a bounded ring per faction
    (and a bounded number of factions). Feed it with `add`, or hand `on_event` to the
    gameplay event bus; it never does I/O."""

    def __init__(self, per_faction: int = 8, max_factions: int = 1024) -> None:
        self.per_faction = per_faction
        self._rings: LRUCache[str, deque[tuple[float, str]]] = LRUCache(maxsize=max_factions)
        # Told of every line added (the game streams them to the faction's members); must
        # not block, like the bus's inline subscribers.
        self.on_add: Callable[[str, str, float], object] | None = None

    def add(self, faction: str, text: str, at: float | None = None) -> None:
        ring = self._rings.get(faction)
        if ring is None:
            ring = deque(maxlen=self.per_faction)
            self._rings[faction] = ring
        when, line = time.time() if at is None else at, clip(text, 200)
        ring.append((when, line))
        if self.on_add is not None:
            self.on_add(faction, line, when)

    def recent(self, faction: str | None, n: int = 3) -> tuple[str, ...]:
        if not faction or n <= 0:
            return ()
        ring = self._rings.get(faction)
        return () if ring is None else tuple(t for _, t in list(ring)[-n:])

    def on_event(self, ev: GameplayEvent) -> None:
        """Turn the gameplay events NPCs would hear about into news lines."""
        if isinstance(ev, RelationshipChanged):
            a, b = _label(ev.faction_a), _label(ev.faction_b)
            if ev.stance_changed:
                line = f"The {a} and the {b} are now {_stance(ev.stance)}"
            elif ev.strength < ev.previous_strength:
                line = f"Tension between the {a} and the {b} is rising"
            else:
                line = f"Things between the {a} and the {b} are cooling down"
            self.add(ev.faction_a, line, ev.at)
            self.add(ev.faction_b, line, ev.at)
        elif isinstance(ev, FactionChanged) and ev.change in ("joined", "left", "kicked"):
            word = {
                "joined": "A new member joined",
                "left": "A member left",
                "kicked": "A member was kicked out of",
            }[ev.change]
            self.add(ev.faction, f"{word} the {_label(ev.faction)}", ev.at)


def _stance(stance: str) -> str:
    return {"war": "at war", "allied": "allies"}.get(stance, stance)


# --- building the context ----------------------------------------------------------------
def describe_place(world: World, npc_nid: int, player_nid: int) -> str:
    """Where the NPC stands, in words the model can use (no map names on the server)."""
    npc = world.entity_xy(npc_nid)
    if npc is None:
        return "the street"
    x, y = npc
    where = f"a street in Los Santos, around ({x:.0f}, {y:.0f})"
    you = world.entity_xy(player_nid)
    if you is not None:
        d = math.hypot(you[0] - x, you[1] - y)
        where += f"; the player is {d:.0f} m away"
    return where


async def build_dialogue_context(
    world: World,
    repos: Repositories,
    npc_nid: int,
    player: PlayerRef,
    player_text: str,
    *,
    memory: MemoryService | None = None,
    relationships: RelationshipService | None = None,
    news: FactionNews | None = None,
    companions: CompanionService | None = None,
    history: Sequence[tuple[str, str]] = (),
    location: str | None = None,
    news_items: int = 3,
) -> DialogueContext | None:
    """The input of `AiService.talk_stream` for `player` saying `player_text` to NPC
    `npc_nid`; None when that NPC is not in the world. Pass the server's long-lived
    services (`memory`, `relationships`, `news`, `companions`); the defaults build
    throw-away ones over `repos` (tests, tools)."""
    # One synchronous read of the world (between ticks), before any await.
    ident = world.identity(npc_nid)
    if ident is None:
        return None
    companion = companions.by_nid(npc_nid) if companions is not None else None
    place = location if location is not None else describe_place(world, npc_nid, player.nid)

    memory = memory or MemoryService(repos)
    relationships = relationships or RelationshipService(repos.npc_relationships)
    if companion is not None:
        assert companions is not None
        persona = companions.persona(companion)
    else:
        persona = persona_of(ident)
    rel = await relationships.get(persona.npc_id, player.player_id)
    persona = NpcPersona(
        persona.npc_id,
        persona.name,
        persona.role,
        persona.faction,
        persona.personality,
        mood(rel, persona.mood),
    )
    raw_faction = None if companion is not None else ident.faction
    return DialogueContext(
        persona=persona,
        player_id=player.player_id,
        player_name=player.name,
        player_text=player_text,
        relationship=for_prompt(rel),
        location=place,
        faction_events=news.recent(raw_faction, news_items) if news is not None else (),
        memories=await memory.prompt_memories(persona.npc_id, player.player_id),
        history=tuple(history),
    )


# --- after the reply ---------------------------------------------------------------------
OUTCOME_WEIGHT = {"friendly": 40, "neutral": 30, "rude": 55, "threat": 75}
"""Emotional weight of a conversation memory by outcome: threats and insults stick."""

_THREAT = re.compile(r"\b(kill|shoot|murder|die|dead|hurt|stab|burn|gun to)\b", re.I)
_RUDE = re.compile(r"\b(idiot|stupid|shut up|moron|loser|fuck\w*|bitch|dumb|screw you)\b", re.I)
_FRIENDLY = re.compile(r"\b(thanks?|thank you|please|friend|appreciate|respect|cheers)\b", re.I)


def guess_outcome(player_text: str) -> str:
    """A crude lexical reading of how the player spoke (offline; no model needed): threat,
    rude, friendly or neutral. The integrator may pass a better one (e.g. from an action)."""
    if _THREAT.search(player_text):
        return "threat"
    if _RUDE.search(player_text):
        return "rude"
    if _FRIENDLY.search(player_text):
        return "friendly"
    return "neutral"


async def remember_conversation(
    memory: MemoryService,
    relationships: RelationshipService,
    ctx: DialogueContext,
    reply_text: str,
    *,
    outcome: str | None = None,
    weight: int | None = None,
) -> str | None:
    """Store the exchange as the NPC's memory (what the player said, what it answered) and
    move the relationship by the outcome (`guess_outcome` of the player's line when None).
    Returns the memory id (None: the write queue was full, counted)."""
    outcome = outcome or guess_outcome(ctx.player_text)
    if outcome not in CONVERSATION_OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(CONVERSATION_OUTCOMES)}")
    said, answered = clip(ctx.player_text), clip(reply_text)
    mid = memory.remember(
        ctx.persona.npc_id,
        "conversation",
        f'{ctx.player_name} said to me: "{said}" I answered: "{answered}"',
        player_id=ctx.player_id,
        weight=OUTCOME_WEIGHT[outcome] if weight is None else weight,
        data={
            "player_name": ctx.player_name,
            "player_said": said,
            "npc_said": answered,
            "outcome": outcome,
        },
    )
    await relationships.change(ctx.persona.npc_id, ctx.player_id, outcome, conversation=True)
    return mid
