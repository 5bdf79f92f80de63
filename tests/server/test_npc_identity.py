"""NPC identity: generated names, pinned characters from NPC_FILE, and the `who` lookup."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_config
from protocol.quant import quantise_position
from server.world.identity import (
    FACTIONS,
    NAME_SPACE,
    ROLES,
    SLUG,
    generate_identity,
    load_npc_file,
)
from server.world.who import who_reply
from server.world.world import World

ROOT = Path(__file__).resolve().parents[2]


def make_world(**over: Any) -> World:
    cfg = load_config(**{"npc_count": 30, "spawn_area_size": 100.0, "log_level": "warning", **over})
    return World(cfg, 240)


def test_ten_thousand_distinct_names() -> None:
    assert NAME_SPACE >= 10_000
    people = [generate_identity(7, i) for i in range(10_000)]
    assert len({p.name for p in people}) == 10_000
    assert len({p.key for p in people}) == 10_000
    assert {p.role for p in people} == set(ROLES)  # every role occurs
    assert {p.faction for p in people} <= set(FACTIONS)
    assert all(0 <= p.seed < 2**32 for p in people)
    cops = [p for p in people if p.role == "cop"]
    assert cops and all(p.faction == "lspd" for p in cops)
    gangs = [p for p in people if p.role == "gang_member"]
    assert len({p.faction for p in gangs}) == 4


def test_names_beyond_the_grid_stay_distinct() -> None:
    names = {generate_identity(1, i).name for i in range(NAME_SPACE - 5, NAME_SPACE + 5)}
    assert len(names) == 10


def test_identities_are_stable_across_processes_and_seeds_differ() -> None:
    """The same seed gives the same people in another interpreter (no hash randomisation,
    no process state); another seed gives other people."""
    code = (
        "from server.world.identity import generate_identity as g;"
        "print([(g(3, i).name, g(3, i).role, g(3, i).faction, g(3, i).seed) for i in (0, 1, 9999)])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        timeout=60,
    ).stdout.strip()
    here = [
        (
            generate_identity(3, i).name,
            generate_identity(3, i).role,
            generate_identity(3, i).faction,
            generate_identity(3, i).seed,
        )
        for i in (0, 1, 9999)
    ]
    assert out == repr(here)
    other = [generate_identity(4, i).name for i in range(100)]
    assert other != [generate_identity(3, i).name for i in range(100)]


def test_world_npcs_have_identities() -> None:
    w = make_world(npc_seed=11)
    ident = w.identity(1)
    assert ident == generate_identity(11, 0)
    assert w.identity(w.npcs.first_id + w.npcs.capacity) is None


PINNED_YAML = """
npcs:
  - id: tony
    name: Tony Cipriani
    role: vendor
    faction: none
    personality: |
      Sells hot dogs on Vespucci Beach. Grumpy before noon.
    x: 12.5
    y: -40.0
    heading: 90
  - name: Officer Tenpenny
    role: cop
    faction: lspd
    x: -20.0
    y: 15.0
    wander: true
"""


def test_pinned_npcs_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "cast.yaml"
    f.write_text(PINNED_YAML)
    w = make_world(npc_file=str(f), npc_count=10)
    assert w.npcs.n == 12
    tony, tenpenny = 11, 12  # after the 10 generated ones
    it = w.identity(tony)
    assert it is not None
    assert (it.key, it.name, it.role, it.faction) == ("pin:tony", "Tony Cipriani", "vendor", "none")
    assert it.personality.startswith("Sells hot dogs")
    p = w.npc_path(tony)
    assert (p.qx, p.qy) == quantise_position(w.bounds, 12.5, -40.0, 0.0)[:2]
    assert p.speed == 0 and abs(p.heading(w.bounds) - 90.0) < 2.0
    t2 = w.identity(tenpenny)
    assert t2 is not None and t2.key == "pin:officer-tenpenny" and t2.faction == "lspd"
    assert w.npcs.wander[tenpenny - 1]
    for _ in range(10):
        w.step()
    i = tony - 1
    assert (w.npcs.x[i], w.npcs.y[i]) == p.position_at(w.tick, w.tick_rate, w.bounds)[:2]
    # Players' net ids start after the pinned NPCs and the spawn headroom.
    assert w.net_ids.next == 1 + 12 + w.config.npc_spawn_capacity


def test_pinned_npcs_from_json(tmp_path: Path) -> None:
    f = tmp_path / "cast.json"
    f.write_text(json.dumps([{"name": "Lamar", "role": "gang_member", "x": 1, "y": 2}]))
    (npc,) = load_npc_file(str(f))
    assert (npc.name, npc.faction, npc.z) == ("Lamar", "none", 0.0)


@pytest.mark.parametrize(
    ("text", "suffix", "expect"),
    [
        ("- {name: A, x: 1}\n", ".yaml", "entry 0 ('A'): y: Field required"),
        (
            "- {name: A, x: 1, y: 2}\n- {name: B, x: 1, y: 2, role: Big Boss}\n",
            ".yaml",
            "entry 1 ('B'): role",
        ),
        ("- {name: A, x: 1, y: 2, mood: happy}\n", ".yml", "entry 0 ('A'): mood"),
        (
            "- {name: A, x: 1, y: 2}\n- {name: A, x: 3, y: 4}\n",
            ".yaml",
            "entry 1 ('A'): id 'pin:a' already used by entry 0",
        ),
        ("- {name: A, x: .nan, y: 2}\n", ".yaml", "entry 0 ('A'): x"),
        ("name: [unclosed\n", ".yaml", "not valid"),
        ('{"npcs": 5}', ".json", "expected a list"),
        ("[1,", ".json", "not valid"),
    ],
)
def test_bad_npc_files_fail_naming_file_and_entry(
    tmp_path: Path, text: str, suffix: str, expect: str
) -> None:
    f = tmp_path / f"cast{suffix}"
    f.write_text(text)
    with pytest.raises(ConfigError) as ei:
        make_world(npc_file=str(f))
    msg = str(ei.value)
    assert msg.startswith(f"NPC_FILE {f}") and expect in msg, msg


def test_missing_npc_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NPC_FILE: cannot read"):
        make_world(npc_file=str(tmp_path / "nope.yaml"))


def test_too_many_net_ids_fail_at_start() -> None:
    with pytest.raises(ConfigError, match="NPC_SPAWN_CAPACITY"):
        make_world(npc_count=60000, npc_spawn_capacity=6000)


def test_who_describes_only_what_the_viewer_sees() -> None:
    w = make_world(npc_count=0, npc_spawn_capacity=4)
    from server.world.commands import SpawnNpc

    near = w.spawn(
        SpawnNpc(
            x=5.0, y=5.0, name="Big Smoke", role="gang_member", faction="grove_street_families"
        )
    )
    far = w.spawn(SpawnNpc(x=3000.0, y=3000.0, name="Far Away"))
    me = w.net_ids.allocate(w.tick)
    w.spawn_player(me, "Ana", 0.0, 0.0, 0.0, 0.0)
    other = w.net_ids.allocate(w.tick)
    w.spawn_player(other, "Bob", 20.0, 0.0, 0.0, 0.0)
    w.step()
    assert near is not None and far is not None
    reply = who_reply(w, me, [near, far, other, near, 65535, 0, me])
    assert reply.entities == [
        {
            "id": near,
            "kind": "npc",
            "name": "Big Smoke",
            "role": "gang_member",
            "faction": "grove_street_families",
        },
        {"id": other, "kind": "player", "name": "Bob"},
        {"id": me, "kind": "player", "name": "Ana"},
    ]
    for e in reply.entities:
        assert SLUG.match(str(e.get("role", "x"))) and SLUG.match(str(e.get("faction", "x")))


def test_the_example_npc_file_loads() -> None:
    cast = load_npc_file(str(ROOT / "config" / "npcs.example.yaml"))
    assert [n.key for n in cast] == ["pin:tony", "pin:tenpenny", "pin:sweet-johnson"]
    w = make_world(npc_file=str(ROOT / "config" / "npcs.example.yaml"))
    assert w.identity(w.npcs.n) is not None
