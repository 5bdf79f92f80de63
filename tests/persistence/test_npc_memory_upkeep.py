"""NPC memory upkeep and NPC relationships on every backend (storage contract): weightiest
first, decay rounding the same everywhere, pruning of expired and old memories (PostgreSQL by
dropping whole monthly partitions), relationships that never move back in time."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from server.persistence.ops import AddNpcMemory, CreatePlayer, SaveNpcRelationship
from server.persistence.pg_storage import PostgresStorage
from server.persistence.storage import Storage


def uid() -> str:
    return str(uuid.uuid4())


async def new_player(st: Storage) -> str:
    pid = uid()
    await st.apply(CreatePlayer(pid, f"p-{pid[:8]}", time.time()))
    return pid


async def test_important_memories_weightiest_first(storage: Storage) -> None:
    pid, other = await new_player(storage), await new_player(storage)
    t = time.time()
    for n, (who, w, age) in enumerate([(pid, 30, 5), (pid, 90, 50), (other, 70, 1), (pid, 90, 2)]):
        await storage.apply(AddNpcMemory(uid(), "npc-1", who, "talk", {"n": n}, w, t - age, None))
    await storage.apply(AddNpcMemory(uid(), "npc-1", pid, "gone", {"n": 9}, 100, t, t - 1))
    got = await storage.important_npc_memories("npc-1", limit=3)
    assert [m.content["n"] for m in got] == [3, 1, 2]
    mine = await storage.important_npc_memories("npc-1", pid)
    assert [m.content["n"] for m in mine] == [3, 1, 0]


async def test_decay_rounds_down_keeps_the_floor_and_spares_new_memories(
    storage: Storage,
) -> None:
    pid = await new_player(storage)
    t = time.time()
    weights = {"a": 50, "b": 10, "c": 8, "d": 9, "e": 100}
    for name, w in weights.items():
        at = t + 10 if name == "e" else t - 100  # "e" is newer than the cut-off
        await storage.apply(AddNpcMemory(uid(), "npc-2", pid, "x", {"k": name}, w, at, None))
    changed = await storage.decay_npc_memories(900, 8, t)
    got = {m.content["k"]: m.emotional_weight for m in await storage.npc_memories("npc-2")}
    assert got == {"a": 45, "b": 9, "c": 8, "d": 8, "e": 100}
    assert changed == 3  # a, b, d (c is at the floor, e too new)


async def test_prune_removes_expired_and_old_memories(storage: Storage) -> None:
    pid = await new_player(storage)
    now = time.time()
    old = now - 120 * 86400  # about four months ago
    await storage.apply(AddNpcMemory(uid(), "npc-3", pid, "x", {"k": "old"}, 50, old, None))
    await storage.apply(AddNpcMemory(uid(), "npc-3", pid, "x", {"k": "exp"}, 50, now, now - 1))
    await storage.apply(AddNpcMemory(uid(), "npc-3", pid, "x", {"k": "new"}, 50, now, None))
    d = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    cut = dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp()  # this month's start
    if isinstance(storage, PostgresStorage):
        o = dt.datetime.fromtimestamp(old, tz=dt.UTC)
        old_part = f"npc_memories_{o.year:04d}_{o.month:02d}"
        assert old_part in await storage.partitions()
    assert await storage.prune_npc_memories(now, cut) == 2
    assert [m.content["k"] for m in await storage.npc_memories("npc-3")] == ["new"]
    if isinstance(storage, PostgresStorage):
        assert old_part not in await storage.partitions()
    # A late write for a pruned month (a journal replayed) still lands.
    await storage.apply(AddNpcMemory(uid(), "npc-3", pid, "x", {"k": "late"}, 50, old, None))
    assert len(await storage.npc_memories("npc-3")) == 2
    assert await storage.prune_npc_memories(now) == 0  # nothing expired any more


async def test_npc_relationship_upsert_never_goes_back(storage: Storage) -> None:
    pid = await new_player(storage)
    t = time.time()
    assert await storage.npc_relationship("npc:1:5", pid) is None
    await storage.apply(SaveNpcRelationship("npc:1:5", pid, 10, -5, 1, t))
    await storage.apply(SaveNpcRelationship("npc:1:5", pid, 30, 20, 2, t + 1))
    await storage.apply(SaveNpcRelationship("npc:1:5", pid, -90, -90, 9, t - 5))  # late, older
    r = await storage.npc_relationship("npc:1:5", pid)
    assert r is not None
    assert (r.affinity, r.trust, r.conversations) == (30, 20, 2)
    assert abs(r.updated_at - (t + 1)) < 1e-3
    assert await storage.npc_relationship("npc:1:6", pid) is None


async def test_one_memory_can_be_edited_and_deleted(storage: Storage) -> None:
    """The admin console's memory edit and delete: only that NPC's memory, truthfully."""
    pid = await new_player(storage)
    t = time.time()
    mine, other = uid(), uid()
    await storage.apply(AddNpcMemory(mine, "npc-7", pid, "x", {"text": "a", "k": 1}, 50, t, None))
    await storage.apply(AddNpcMemory(other, "npc-8", pid, "x", {"text": "b"}, 50, t, None))
    assert await storage.edit_npc_memory("npc-7", mine, weight=5, content={"text": "c", "k": 1})
    assert not await storage.edit_npc_memory("npc-8", mine, weight=1)  # not npc-8's
    assert not await storage.edit_npc_memory("npc-7", "not-a-uuid", weight=1)
    got = await storage.npc_memories("npc-7")
    assert [(m.content, m.emotional_weight) for m in got] == [({"text": "c", "k": 1}, 5)]
    assert not await storage.delete_npc_memory("npc-7", other)
    assert await storage.delete_npc_memory("npc-7", mine)
    assert not await storage.delete_npc_memory("npc-7", mine)
    assert await storage.npc_memories("npc-7") == []
    assert len(await storage.npc_memories("npc-8")) == 1
