"""Talking to NPCs through real sockets: streamed replies, memory, cancelling, failures.

The offline provider (the default) answers most tests; the scripted OpenAI-compatible server
(tests/ai/fake_openai.py) plays a model that is slow, failing, or whose prompts we read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from server.app import Server
from server.persistence.memory import MemoryPersistence
from tests.ai.fake_openai import FakeOpenAI, Reply, error
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.test_http import _get

TOWN: dict[str, Any] = {"npc_count": 50, "spawn_area_size": 50.0}


def model(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        **TOWN,
        "ai_provider": "openai",
        "openai_base_url": fake.base_url,
        "ai_max_retries": 0,
        **extra,
    }


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


async def player_near_npc(srv: Server, name: str) -> tuple[Client, int]:
    c = await open_client(srv.url, name)
    await c.until(lambda c: any(n <= 50 for n in c.mirror.entities))
    return c, next(n for n in c.mirror.entities if n <= 50)


async def talk(c: Client, npc: int, text: str) -> None:
    await c.ws.send(orjson.dumps({"op": "talk", "npc": npc, "text": text}).decode())


async def reply(c: Client, timeout: float = 10.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The parts and the final `npc_say` of the next reply to arrive."""
    start = len(c.texts)
    say = await c.text("npc_say", timeout)
    parts = [
        t
        for t in c.texts[start:]
        if t.get("op") == "npc_say_part" and t["reply_id"] == say["reply_id"]
    ]
    return parts, say


async def recorded(persistence: MemoryPersistence, player_id: str, n: int) -> list[Any]:
    """The AI calls stored for this player, once there are at least `n`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while len(rows := await persistence.ai_calls(player_id=player_id)) < n:
        assert loop.time() < end, f"{len(rows)} AI calls recorded, expected {n}"
        await asyncio.sleep(0.05)
    return rows


def metric(srv: Server, name: str, **labels: str) -> float:
    return srv.state.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_talk_streams_parts_then_the_whole_line_and_is_remembered(
    start: ServerFactory, clients: list[Client]
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **TOWN)
    a, npc = await player_near_npc(srv, "talker")
    clients.append(a)
    await talk(a, npc, "Seen the red car on Grove?")
    parts, say = await reply(a)
    assert say["npc"] == npc and say["to"] == a.nid and say["reply_id"] >= 1
    assert parts and [p["seq"] for p in parts] == list(range(1, len(parts) + 1))
    assert all((p["npc"], p["to"]) == (npc, a.nid) for p in parts)
    assert "".join(p["text"] for p in parts) == say["text"] and "replaced" not in say

    # The NPC remembers the conversation (by its stable key) and knows the player now.
    key = srv.state.world.identity(npc).key  # type: ignore[union-attr]
    pid = a.mirror.player_id
    assert pid is not None
    repos = persistence.repos
    found: list[Any] = []

    async def stored() -> bool:
        found[:] = await repos.npc_memory.recent(key, pid, 10)
        return bool(found)

    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while not await stored():
        assert loop.time() < end, "the conversation was not stored"
        await asyncio.sleep(0.05)
    (mem,) = found
    assert mem.memory_type == "conversation"
    assert mem.content["player_said"] == "Seen the red car on Grove?"
    assert mem.content["npc_said"] == say["text"]
    rel = await repos.npc_relationships.get(key, pid)
    assert rel is not None and rel.conversations == 1

    # The second talk's context holds the first conversation: the offline grammar has it.
    recalled = await srv.state.game.talks.memory.prompt_memories(key, pid)
    assert any("Seen the red car on Grove?" in m.text for m in recalled)
    await talk(a, npc, "Anything else?")
    _, again = await reply(a)
    assert again["reply_id"] > say["reply_id"] and again["text"]

    # Every AI call is recorded, off the reply path, in the ai_calls repository.
    rows = await recorded(persistence, pid, 2)
    assert {(r.provider, r.purpose, r.outcome, r.npc_id) for r in rows} == {
        ("offline", "dialogue", "ok", key)
    }
    assert metric(srv, "ganggpt_npc_talks_total", result="replied") == 2
    # Each replied talk is timed from the talk received to its npc_say sent.
    assert metric(srv, "ganggpt_npc_talk_seconds_count") == 2
    assert 0 < metric(srv, "ganggpt_npc_talk_seconds_sum") < 20


async def test_the_next_prompt_holds_the_last_conversation(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(**model(fake))
    a, npc = await player_near_npc(srv, "asker")
    clients.append(a)
    fake.default = Reply(text="Maybe I did. Maybe I didn't.")
    await talk(a, npc, "Seen the red car on Grove?")
    parts, say = await reply(a)
    assert say["text"] == "Maybe I did. Maybe I didn't." and len(parts) == 2
    await talk(a, npc, "Anything else?")
    await reply(a)
    first, second = fake.chat_requests()
    assert first.body["stream"] is True
    assert "Seen the red car on Grove?" not in orjson.dumps(first.body["messages"][:-1]).decode()
    assert "Seen the red car on Grove?" in orjson.dumps(second.body["messages"]).decode()


async def test_a_new_talk_cancels_the_reply_still_streaming(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(**model(fake))
    a, npc = await player_near_npc(srv, "impatient")
    clients.append(a)
    fake.push(Reply(text="Wait. " + "slowly " * 30 + "done.", chunk_delay=0.3))
    fake.default = Reply(text="Fine, what?")
    await talk(a, npc, "Tell me a long story.")
    first = await a.text("npc_say_part")
    assert first["text"] == "Wait."
    await talk(a, npc, "Never mind.")
    parts, say = await reply(a)
    assert say["text"] == "Fine, what?" and say["reply_id"] > first["reply_id"]
    assert not any(t.get("op") == "npc_say" and t["reply_id"] == first["reply_id"] for t in a.texts)
    assert {p["reply_id"] for p in parts} == {say["reply_id"]}
    assert metric(srv, "ganggpt_npc_talks_total", result="cancelled") == 1
    assert metric(srv, "ganggpt_npc_talk_seconds_count") == 1  # the cancelled one is not timed
    assert len(fake.chat_requests()) == 2


async def test_walking_away_cancels_the_reply(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    srv = await start(**model(fake, spawn_area_size=10.0, player_max_speed=1000.0))
    a, npc = await player_near_npc(srv, "walker")
    clients.append(a)
    fake.push(Reply(text="Wait. " + "slowly " * 30 + "done.", chunk_delay=0.2))
    await talk(a, npc, "Tell me a long story.")
    first = await a.text("npc_say_part")
    assert a.mirror.local is not None
    await a.walk(a.mirror.local[0] + 1500, a.mirror.local[1], speed=800)
    loop = asyncio.get_running_loop()
    end = loop.time() + 15
    while metric(srv, "ganggpt_npc_talks_total", result="walked_away") < 1:
        assert loop.time() < end, "walking away did not cancel the reply"
        await a.drain(0.05)
    assert first["reply_id"] >= 1
    assert not any(t.get("op") == "npc_say" for t in a.texts)
    assert metric(srv, "ganggpt_npc_talks_total", result="replied") == 0
    assert metric(srv, "ganggpt_npc_talk_seconds_count") == 0


async def test_a_failing_provider_gets_a_clear_offline_reply_and_degraded_health(
    start: ServerFactory, clients: list[Client], fake: FakeOpenAI
) -> None:
    persistence = MemoryPersistence()
    srv = await start(persistence, **model(fake, ai_breaker_threshold=2, ai_breaker_reset=60.0))
    a, npc = await player_near_npc(srv, "unlucky")
    clients.append(a)
    fake.default = error(500)
    _, body, _ = await _get(srv.port, "/health")
    (ai,) = [c for c in orjson.loads(body)["checks"] if c["name"] == "ai"]
    assert ai["status"] == "ok" and ai["details"]["breaker"] == "closed"
    for i in range(3):
        await talk(a, npc, f"Hello? {i}")
        parts, say = await reply(a, timeout=5.0)
        assert say["text"] and "".join(p["text"] for p in parts) == say["text"]
    # Two failures opened the breaker: the third was not even sent to the model.
    assert len(fake.chat_requests()) == 2
    _, body, _ = await _get(srv.port, "/health")
    health = orjson.loads(body)
    (ai,) = [c for c in health["checks"] if c["name"] == "ai"]
    assert ai["status"] == "degraded" and ai["details"]["answering"] == "offline"
    assert health["status"] == "degraded"
    pid = a.mirror.player_id
    assert pid is not None
    rows = await recorded(persistence, pid, 3)
    assert sorted((r.outcome, r.purpose) for r in rows) == [
        ("error", "dialogue"),
        ("error", "dialogue"),
        ("fallback", "dialogue"),
    ]


async def test_storage_trouble_still_gets_a_reply(
    start: ServerFactory, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await start(**TOWN)
    a, npc = await player_near_npc(srv, "unlucky")
    clients.append(a)

    async def down(*args: object, **kw: object) -> object:
        raise ConnectionError("database unreachable")

    talks = srv.state.game.talks
    monkeypatch.setattr(talks.relationships, "get", down)
    monkeypatch.setattr(talks.relationships, "change", down)
    await talk(a, npc, "Anyone home?")
    parts, say = await reply(a)
    assert say["text"] and "".join(p["text"] for p in parts) == say["text"]
    assert metric(srv, "ganggpt_npc_talks_total", result="replied") == 1
