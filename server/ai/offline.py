"""The offline provider: in-character lines and missions from templates, no network, no key.

Why a grammar rather than a line list: a reply is composed from slots (greeting by how well
the NPC knows the player, a line for what the player asked, something the NPC remembers, its
mood, its faction), each filled from the NPC's own snapshot, so two NPCs rarely sound alike
and one NPC sounds like itself. Choices come from `random.Random(seed)` where the seed hashes
the NPC, the player, the turn, the question and the memories: the same inputs always give the
same line (tests, replays), and asking the same thing again later in a conversation gives a
different one (a line already said in this conversation is re-rolled).

It is also the fallback for every failure of a real provider, so it must never fail itself.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import AsyncGenerator, Sequence

import orjson

from server.ai.actions import tool_names
from server.ai.context import DialogueContext, MissionContext, NpcPersona
from server.ai.missions import (
    AvoidFaction,
    BringNpc,
    FactionImpact,
    MissionSpec,
    Objective,
    ReachPlace,
    RewardPool,
    StayInArea,
    TalkToNpc,
)
from server.ai.types import Chunk, Completion, CompletionRequest, ToolCall

OFFLINE_MODEL = "grammar-v1"


def seed_of(*parts: object) -> int:
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


_GREETING = {
    "trusted friend": (
        "Hey, {player}. Good to see you.",
        "{player}! My favourite person.",
        "There you are, {player}.",
    ),
    "friendly acquaintance": (
        "{player}, right? Hey.",
        "Oh, it's you again.",
        "Hey there, {player}.",
    ),
    "known face": ("You again.", "Back so soon?", "I remember your face."),
    "stranger": (
        "Who's asking?",
        "Do I know you?",
        "Yeah? What do you want?",
        "Keep it short, stranger.",
    ),
    "distrusted": ("You've got some nerve showing up here.", "Make it quick.", "I'm watching you."),
    "enemy": ("You? Get lost before I lose my temper.", "Walk away. Now.", "Wrong street for you."),
}

_INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Before "follow" and "greeting": "stop following me" is not a request to follow.
    ("stop", ("stop following", "stop following me", "wait here", "stay here", "leave me")),
    ("greeting", ("hi", "hello", "hey", "yo", "morning", "evening", "sup")),
    ("work", ("work", "job", "mission", "gig", "task", "hire", "money", "cash", "pay")),
    ("police", ("cop", "cops", "police", "lspd", "sheriff", "badge")),
    ("threat", ("kill", "gun", "shoot", "hurt", "threat", "die", "knife")),
    ("self", ("who", "name", "yourself", "you do")),
    ("faction", ("gang", "crew", "faction", "boss", "family", "families")),
    ("follow", ("follow", "come with", "join me", "help me")),
)

_ANSWER = {
    "greeting": ("Yeah, hi.", "Hey yourself.", "Evening.", "What's up."),
    "work": (
        "Work? Maybe. {faction_ref} always needs someone who can keep their mouth shut.",
        "Money's tight around {place}. If I hear of a job, you'll hear of it.",
        "I might have something. Depends if you can handle it.",
        "You want a job, you earn some trust first.",
    ),
    "police": (
        "Keep your voice down, the cops roll through {place} every ten minutes.",
        "I don't talk about the badge. Nobody does.",
        "Cops? Haven't seen any. Haven't seen anything.",
    ),
    "threat": (
        "Careful. People around {place} have long memories.",
        "You don't want to do that. Trust me.",
        "Big talk. Let's see you back it up.",
    ),
    "self": (
        "Name's {name}. I'm a {role} around {place}.",
        "{name}. {role_cap}. That's all you need to know.",
        "People call me {name}. I do {role} work, mostly.",
    ),
    "faction": (
        "{faction_ref} runs things here. Remember that.",
        "I don't speak for {faction_ref}, but I hear things.",
        "Crews come and go. {faction_ref} stays.",
    ),
    "follow": (
        "Follow you? I've got my own business, {player}.",
        "Maybe, if you make it worth my while.",
        "Not today. Ask me when I know you better.",
    ),
    "stop": (
        "Suit yourself.",
        "Fine by me.",
        "Whatever you say, {player}.",
    ),
    "other": (
        "Huh. Can't say I know much about that.",
        "I saw nothing. I always see nothing.",
        "Buy me a coffee and maybe I remember something.",
        "That's a question for someone who cares, {player}.",
        "Hm. Interesting. Not my problem, though.",
        "You talk a lot for someone I just met.",
    ),
}

# Lines that go with an action the offline provider proposes (only when the caller offered
# that tool): the words and the deed agree.
_ACT_ANSWER = {
    "follow_player": (
        "Alright, lead the way, {player}.",
        "Fine. I'm right behind you.",
        "Let's go. Don't walk too fast.",
    ),
    "stop_following": (
        "Fine, I'll wait here.",
        "Alright, I'm done tagging along.",
        "Your call. I'll stay put.",
    ),
    "offer_mission": (
        "I've got something for you. Here's the job.",
        "There's a job, if you want it. {faction_ref} pays on time.",
        "Funny you ask. I need someone for a little errand.",
    ),
    "flee": (
        "Whoa, whoa. I'm out of here!",
        "*backs away, then runs*",
        "Stay away from me!",
    ),
}

_MOOD = {
    "nervous": (
        "*glances over their shoulder*",
        "Can we make this quick?",
        "I shouldn't be seen talking to you.",
    ),
    "angry": ("I'm not in the mood.", "Today's been bad enough.", "*jaw tight*"),
    "scared": ("*keeps their distance*", "Please, I don't want trouble.", "Just... stay back."),
    "happy": ("*grins*", "Good day today, honestly.", "Can't complain."),
    "calm": ("", "", "*shrugs*"),
}

_RECALL = {
    "rumour": ("Word is: {memory}", "People say {memory_l}", "I heard {memory_l}"),
    "default": ("I haven't forgotten: {memory}", "Last time? {memory}", "I remember. {memory}"),
}


def _fill(template: str, ctx: DialogueContext) -> str:
    p = ctx.persona
    faction_ref = f"The {p.faction}" if p.faction else "Somebody"
    return template.format(
        player=ctx.player_name,
        name=p.name,
        role=p.role,
        role_cap=p.role[:1].upper() + p.role[1:],
        place=ctx.location,
        faction_ref=faction_ref,
    )


def intent_of(text: str) -> str:
    low = text.lower()
    words = set(re.findall(r"[a-z']+", low))
    for intent, keys in _INTENTS:
        if any((k in words) if " " not in k else (k in low) for k in keys):
            return intent
    return "other"


def offline_actions(ctx: DialogueContext) -> tuple[str, ...]:
    """What the offline NPC does about what the player said (before the server's checks):
    agrees to follow or to stop, offers work, runs from a threat when it has no gang behind
    it. Never for a player it distrusts, except running away."""
    intent = intent_of(ctx.player_text)
    hostile = ctx.relationship.trust <= -20
    if intent == "threat" and not ctx.persona.faction:
        return ("flee",)
    if hostile:
        return ()
    return {
        "follow": ("follow_player",),
        "stop": ("stop_following",),
        "work": ("offer_mission",),
    }.get(intent, ())


_OFFLINE_ARGS = {"flee": {"reason": "threatened"}}


def offline_tool_calls(ctx: DialogueContext, offered: frozenset[str]) -> tuple[ToolCall, ...]:
    """The offline actions as tool calls, limited to the tools the request offered."""
    return tuple(
        ToolCall(f"offline_{i}", name, orjson.dumps(_OFFLINE_ARGS.get(name, {})).decode())
        for i, name in enumerate(a for a in offline_actions(ctx) if a in offered)
    )


def _compose(ctx: DialogueContext, rng: random.Random, acting: Sequence[str] = ()) -> str:
    parts: list[str] = []
    rel = ctx.relationship.label
    if ctx.turn == 0 or rng.random() < 0.25:
        parts.append(_fill(rng.choice(_GREETING[rel]), ctx))
    mood = _MOOD.get(ctx.persona.mood, _MOOD["calm"])
    m = rng.choice(mood)
    if m:
        parts.append(m)
    answers = _ACT_ANSWER[acting[0]] if acting else _ANSWER[intent_of(ctx.player_text)]
    parts.append(_fill(rng.choice(answers), ctx))
    if ctx.memories and rng.random() < 0.6:
        mem = rng.choice(ctx.memories)
        text = mem.text.strip().rstrip(".") + "."
        pool = _RECALL["rumour"] if mem.kind == "rumour" else _RECALL["default"]
        parts.append(rng.choice(pool).format(memory=text, memory_l=text[:1].lower() + text[1:]))
    return " ".join(parts)


def offline_reply(ctx: DialogueContext, seed: int = 0, acting: Sequence[str] = ()) -> str:
    """The NPC's line for this turn: deterministic for (ctx, seed), never a line it already
    said in this conversation (when the grammar has another one to give). `acting`: the
    actions it proposes with the line (the first one decides what it answers)."""
    said = {text for speaker, text in ctx.history if speaker == "npc"}
    base = seed_of(
        seed,
        ctx.persona.npc_id,
        ctx.player_id,
        ctx.turn,
        ctx.player_text.strip().lower(),
        len(ctx.memories),
        ctx.relationship.trust,
    )
    line = ""
    for attempt in range(16):
        line = _compose(ctx, random.Random(base + attempt), acting)
        if line not in said:
            return line
    return line


# --- missions ---------------------------------------------------------------------------


def _rival(ctx: MissionContext, rng: random.Random) -> str | None:
    others = [f for f in ctx.factions if f != ctx.giver.faction]
    return rng.choice(others) if others else None


THEME_WORDS = {
    "delivery": ("deliver", "package", "drop"),
    "stakeout": ("stakeout", "stake out", "watch"),
    "escort": ("escort", "ride"),
    "meeting": ("meet", "message", "word with"),
}
"""Words of a mission request's theme that ask for one kind of offline mission."""


def offline_mission(ctx: MissionContext, seed: int = 0) -> MissionSpec:
    """A mission built only from what `ctx` offers, so it always passes `check_against`."""
    rng = random.Random(
        seed_of(seed, ctx.player_id, ctx.giver.npc_id, ctx.theme, ctx.difficulty_hint)
    )
    giver = ctx.giver
    difficulty = min(10, max(1, ctx.difficulty_hint + rng.choice((-1, 0, 0, 1))))
    places = list(ctx.places)
    rival = _rival(ctx, rng)
    objectives: list[Objective] = []
    kinds = ["delivery", "stakeout"]
    if ctx.npc_ids:
        kinds += ["escort", "meeting"]
    if not places and not ctx.npc_ids:
        raise ValueError("a MissionContext needs at least one place or NPC")
    # A theme naming a kind of job steers the choice, as it would steer a model.
    theme = ctx.theme.lower()
    wanted = [k for k in kinds if any(w in theme for w in THEME_WORDS[k])]
    kind = rng.choice(wanted or kinds) if places else "meeting"
    radius = float(rng.choice((10, 15, 25)))
    if kind == "delivery":
        a = rng.choice(places)
        objectives.append(ReachPlace(kind="reach_place", place=a.name, radius_m=radius))
        title = f"Package for {a.name}"
        desc = f"{giver.name} needs a package dropped at {a.name}. No questions, no detours."
    elif kind == "stakeout":
        a = rng.choice(places)
        seconds = 60 + 30 * difficulty
        objectives.append(
            StayInArea(kind="stay_in_area", place=a.name, radius_m=radius * 2, seconds=seconds)
        )
        title = f"Eyes on {a.name}"
        desc = f"{giver.name} wants someone watching {a.name} for {seconds // 60} minutes. Stay close, stay quiet."
    elif kind == "escort":
        a = rng.choice(places)
        npc = rng.choice(ctx.npc_ids)
        objectives.append(BringNpc(kind="bring_npc", npc_id=npc, place=a.name, radius_m=radius))
        who = ctx.npc_name(npc) or f"A friend of {giver.name}"
        title = f"Safe ride to {a.name}"
        desc = f"{who} needs to get to {a.name} in one piece. Bring them there."
    else:
        npc = rng.choice(ctx.npc_ids)
        objectives.append(TalkToNpc(kind="talk_to_npc", npc_id=npc))
        name = ctx.npc_name(npc)
        title = f"A quiet word with {name}"[:80] if name else "A quiet word"
        contact = name or "a contact"
        desc = f"{giver.name} has a message for {contact}. Find them and talk, nothing more."
    if rival is not None and difficulty >= 4:
        objectives.append(
            AvoidFaction(kind="avoid_faction", faction=rival, distance_m=50.0, seconds=120)
        )
        desc += f" Keep away from the {rival}."
    impact = []
    if giver.faction and giver.faction in ctx.factions:
        impact.append(FactionImpact(faction=giver.faction, delta=min(20, 2 + difficulty)))
    # Working for one faction is working against its rival: the impact a player without a
    # faction of their own can still see (the giver's faction vs the rival).
    if rival is not None and (giver.faction or len(objectives) > 1):
        impact.append(FactionImpact(faction=rival, delta=-min(20, 1 + difficulty // 2)))
    money = min(ctx.max_reward, 150 * difficulty + rng.randrange(0, 100))
    return MissionSpec(
        title=title,
        description=desc,
        objectives=objectives,
        difficulty=difficulty,
        estimated_minutes=min(180, 3 + 2 * difficulty + 2 * len(objectives)),
        reward=RewardPool(money=money, reputation=min(100, 2 * difficulty)),
        faction_impact=impact,
    )


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?*])\s+", text) if s]


def _generic(persona: NpcPersona | None) -> str:
    who = persona.name if persona else "Someone"
    return f"{who} shrugs and says nothing."


class OfflineProvider:
    name = "offline"
    model = OFFLINE_MODEL
    failing = False
    failed_at = 0.0

    async def complete(self, req: CompletionRequest) -> Completion:
        if req.mission is not None:
            spec = offline_mission(req.mission, req.seed)
            return Completion(spec.model_dump_json(), self.name, self.model, parsed=spec)
        if req.dialogue is None:
            return Completion(_generic(None), self.name, self.model)
        calls = offline_tool_calls(req.dialogue, tool_names(req.tools)) if req.tools else ()
        text = offline_reply(req.dialogue, req.seed, tuple(c.name for c in calls))
        return Completion(text, self.name, self.model, tool_calls=calls)

    async def stream(self, req: CompletionRequest) -> AsyncGenerator[Chunk, None]:
        done = await self.complete(req)
        for i, s in enumerate(_sentences(done.text)):
            yield Chunk(delta=s if i == 0 else " " + s)
        yield Chunk(final=done)

    async def embed(self, texts: Sequence[str]) -> list[list[float]] | None:
        return None

    async def close(self) -> None:
        return None
