"""Word spreads, and only word: a player threatens an NPC; a faction-mate nearby hears a
rumour of it and its prompt (as the OpenAI-compatible test server received it) says so; an
NPC of another faction heard nothing; and what the player actually said, which only the
threatened NPC witnessed, is in no one else's prompt."""

from __future__ import annotations

from typing import Any

import orjson

from server.world.commands import SpawnNpc
from tests.ai.fake_openai import FakeOpenAI, Reply
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.test_faction_ops import send

WORDS = "Pay up or I will kill you, Grover"


async def ask(c: Client, fake: FakeOpenAI, npc: int, text: str) -> str:
    """Talk to `npc`; the prompt the model server received for it, as JSON text."""
    before = len(fake.chat_requests())
    start = len(c.texts)
    await send(c, op="talk", npc=npc, text=text)
    await c.until(lambda c: any(t.get("op") == "npc_say" for t in c.texts[start:]))
    requests = fake.chat_requests()
    assert len(requests) == before + 1
    return orjson.dumps(requests[-1].body["messages"]).decode()


async def test_a_rumour_reaches_a_faction_mate_and_nothing_else_does(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(
        npc_count=5,
        spawn_area_size=50.0,
        ai_provider="openai",
        openai_base_url=fake.base_url,
        ai_max_retries=0,
    )
    c = await open_client(srv.url, "Niko")
    clients.append(c)
    world = srv.state.world
    x, y = world.entity_xy(c.nid) or (0.0, 0.0)
    spawned: dict[str, Any] = {}
    for name, dx, faction in (
        ("Grover", 2.0, "ballas"),
        ("Tyrell", 3.0, "ballas"),
        ("Hector", 4.0, "vagos"),
    ):
        spawned[name] = world.spawn(SpawnNpc(x=x + dx, y=y, name=name, faction=faction))
    grover, tyrell, hector = spawned["Grover"], spawned["Tyrell"], spawned["Hector"]
    await c.until(lambda c: all(n in c.mirror.entities for n in spawned.values()))
    fake.default = Reply(text="You don't scare me.")

    # Before anything happened, Tyrell has nothing to tell about Niko.
    assert "threatened" not in await ask(c, fake, tyrell, "Hi there")

    # Niko threatens Grover: Grover remembers the words; it tells its faction-mates.
    witnessed = await ask(c, fake, grover, WORDS)
    assert WORDS in witnessed  # the words Grover heard, in Grover's own conversation
    told = srv.state.metrics.registry.get_sample_value(
        "ganggpt_rumours_total", {"outcome": "spread"}
    )
    assert told == 1.0

    # Tyrell (ballas, nearby) heard it from Grover; its prompt carries the rumour...
    tyrell_prompt = await ask(c, fake, tyrell, "Seen anything interesting?")
    assert "Grover told me: Niko threatened Grover" in tyrell_prompt
    # ...but not the words, which only Grover witnessed.
    assert "I will kill you" not in tyrell_prompt

    # Hector (vagos) was told nothing and witnessed nothing.
    hector_prompt = await ask(c, fake, hector, "Seen anything interesting?")
    assert "threatened" not in hector_prompt and "I will kill you" not in hector_prompt

    # Grover itself recalls the words (its own memory) next time.
    assert WORDS in await ask(c, fake, grover, "About earlier...")
