"""Who every NPC is: a stable id, a name, a role, a faction and a personality seed.

Why generated: 10,000 NPCs must each be a distinct, named person without a data file, and
the same person after a restart (NPC memory and AI dialogue key on it). A generated identity
is a pure function of NPC_SEED and the NPC's slot, computed only when someone asks (a `who`
lookup, a talk), so it costs the tick nothing: nothing here touches the hot arrays.

Names: the slot goes through an affine permutation of the first x last name grid (a
bijection, so every slot below `len(FIRST) * len(LAST)` gets a different name; beyond that a
generation suffix keeps them distinct). Everything else comes from a BLAKE2b hash of (seed,
slot), so it is stable across runs, processes and Python versions.

Operators pin hand-written characters with NPC_FILE (YAML or JSON; `load_npc_file`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.settings import ConfigError

ROLES = (
    "civilian",
    "gang_member",
    "vendor",
    "cop",
    "taxi_driver",
    "medic",
    "mechanic",
    "bartender",
    "security_guard",
    "drug_dealer",
)
"""Roles the generator hands out (pinned NPCs may use any slug)."""

ROLE_WEIGHTS = (50, 16, 8, 7, 5, 4, 3, 3, 2, 2)

FACTIONS = (
    "none",
    "grove_street_families",
    "ballas",
    "vagos",
    "lost_mc",
    "lspd",
    "ems",
)
"""Factions the generator hands out (GTA-style; pinned NPCs may use any slug)."""

GANGS = ("grove_street_families", "ballas", "vagos", "lost_mc")
GANG_WEIGHTS = (30, 30, 25, 15)

FIRST = (
    "Aaliyah", "Adrian", "Aisha", "Alejandro", "Alicia", "Amir", "Andre", "Angela", "Antonio",
    "Ava", "Benny", "Bianca", "Brandon", "Brianna", "Caleb", "Camila", "Carl", "Carmen",
    "Cedric", "Chen", "Chloe", "Cesar", "Dante", "Darnell", "Deshawn", "Destiny", "Diego",
    "Dmitri", "Dominic", "Ebony", "Eddie", "Elena", "Emilio", "Esther", "Fatima", "Felix",
    "Franklin", "Gabriela", "Gerald", "Gloria", "Hector", "Hana", "Ivan", "Isabel", "Jamal",
    "Jasmine", "Javier", "Jenna", "Jerome", "Jin", "Jorge", "Kayla", "Kendrick", "Keisha",
    "Kenji", "Lamar", "Latoya", "Leon", "Lester", "Lucia", "Luis", "Malik", "Marisol",
    "Marcus", "Maria", "Mateo", "Maya", "Michael", "Mina", "Nadia", "Nate", "Nia", "Nikolai",
    "Omar", "Olivia", "Oscar", "Paloma", "Pedro", "Priya", "Quentin", "Rafael", "Raquel",
    "Ray", "Rosa", "Ruben", "Samir", "Sandra", "Santiago", "Shanice", "Sofia", "Stretch",
    "Tamika", "Tanisha", "Terrence", "Tomas", "Trevor", "Tyrone", "Valeria", "Victor",
    "Vince", "Wade", "Wei", "Ximena", "Yolanda", "Yusuf", "Zara", "Zeke", "Amara", "Bruno",
    "Celeste",
)  # fmt: skip

LAST = (
    "Alvarez", "Anderson", "Baker", "Banks", "Bell", "Brooks", "Brown", "Castillo", "Chavez",
    "Clark", "Coleman", "Cruz", "Davis", "DeSanta", "Diaz", "Dixon", "Edwards", "Espinoza",
    "Evans", "Fisher", "Flores", "Foster", "Garcia", "Gomez", "Gonzalez", "Grant", "Green",
    "Guerrero", "Hall", "Harris", "Hayes", "Hernandez", "Hill", "Holmes", "Howard", "Huang",
    "Jackson", "James", "Jenkins", "Johnson", "Jones", "Kim", "King", "Kowalski", "Lee",
    "Lewis", "Lopez", "Marshall", "Martin", "Martinez", "Mendoza", "Miller", "Mitchell",
    "Moore", "Morales", "Murphy", "Nguyen", "Nunez", "Ortiz", "Owens", "Park", "Patel",
    "Perez", "Petrov", "Phillips", "Price", "Ramirez", "Reed", "Reyes", "Rivera", "Roberts",
    "Robinson", "Rodriguez", "Romero", "Ross", "Ruiz", "Sanchez", "Sanders", "Scott", "Silva",
    "Simmons", "Smith", "Stewart", "Sullivan", "Taylor", "Thomas", "Thompson", "Torres",
    "Turner", "Vargas", "Vasquez", "Walker", "Washington", "Watson", "White", "Williams",
    "Wilson", "Wong", "Wright", "Young",
)  # fmt: skip

NAME_SPACE = len(FIRST) * len(LAST)
"""Distinct generated names before generation suffixes are needed."""

_SUFFIXES = ("", " Jr.", " III", " IV", " V")

SLUG = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class NpcIdentity:
    """Who an NPC is. `key` is stable across restarts (memory and AI key on it); the net id
    is not (it is only the NPC's handle on the wire while it exists)."""

    key: str
    name: str
    role: str
    faction: str
    seed: int  # personality seed, u32: AI prompts and behaviour variations derive from it
    personality: str = ""  # hand-written text for pinned NPCs; empty for generated ones


def _hash(seed: int, slot: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{slot}".encode(), digest_size=16).digest()


def _pick(u: int, options: tuple[str, ...], weights: tuple[int, ...]) -> str:
    r = u % sum(weights)
    for opt, w in zip(options, weights, strict=True):
        if r < w:
            return opt
        r -= w
    return options[-1]  # pragma: no cover


@functools.lru_cache(maxsize=1)
def _permutation(seed: int) -> tuple[int, int]:
    """(a, b) of p(i) = (a*i + b) mod NAME_SPACE, with a coprime to NAME_SPACE."""
    h = hashlib.blake2b(f"names:{seed}".encode(), digest_size=16).digest()
    a = int.from_bytes(h[:8], "little") % NAME_SPACE
    while math.gcd(a, NAME_SPACE) != 1 or a < 2:
        a = (a + 1) % NAME_SPACE
    return a, int.from_bytes(h[8:], "little") % NAME_SPACE


def generated_name(seed: int, index: int) -> str:
    a, b = _permutation(seed)
    generation, i = divmod(index, NAME_SPACE)
    p = (a * i + b) % NAME_SPACE
    first, last = divmod(p, len(LAST))
    suffix = _SUFFIXES[generation] if generation < len(_SUFFIXES) else f" {generation + 1}"
    return f"{FIRST[first]} {LAST[last]}{suffix}"


@functools.lru_cache(maxsize=4096)
def generate_identity(seed: int, index: int) -> NpcIdentity:
    """The identity of generated NPC number `index` in a world seeded with `seed`."""
    h = _hash(seed, index)
    u = int.from_bytes(h[0:4], "little")
    v = int.from_bytes(h[4:8], "little")
    role = _pick(u, ROLES, ROLE_WEIGHTS)
    if role in ("gang_member", "drug_dealer"):
        faction = _pick(v, GANGS, GANG_WEIGHTS)
    elif role == "cop":
        faction = "lspd"
    elif role == "medic":
        faction = "ems"
    elif v % 20 == 0:  # a few civilians run with a gang
        faction = _pick(v // 20, GANGS, GANG_WEIGHTS)
    else:
        faction = "none"
    return NpcIdentity(
        key=f"npc:{seed}:{index}",
        name=generated_name(seed, index),
        role=role,
        faction=faction,
        seed=int.from_bytes(h[8:12], "little"),
    )


# --- pinned NPCs (NPC_FILE) -------------------------------------------------------------


class PinnedNpc(BaseModel):
    """One hand-written character of NPC_FILE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(None, min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    role: str = "civilian"
    faction: str = "none"
    personality: str = Field("", max_length=4000)
    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)
    z: float = Field(0.0, allow_inf_nan=False)
    heading: float = Field(0.0, allow_inf_nan=False)
    model: int | None = Field(None, ge=0, le=65535)
    wander: bool = False

    @field_validator("role", "faction")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError("must be a lower-case slug like 'gang_member' (a-z, 0-9, _)")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if any(c < " " for c in v):
            raise ValueError("must not contain control characters")
        return v

    @property
    def key(self) -> str:
        slug = self.id or re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return f"pin:{slug}"

    def identity(self, seed: int) -> NpcIdentity:
        h = hashlib.blake2b(f"{seed}:{self.key}".encode(), digest_size=8).digest()
        return NpcIdentity(
            key=self.key,
            name=self.name,
            role=self.role,
            faction=self.faction,
            seed=int.from_bytes(h[:4], "little"),
            personality=self.personality,
        )


def load_npc_file(path: str) -> list[PinnedNpc]:
    """Read NPC_FILE: a list of characters, or an object with an `npcs` list. `.json` is read
    as JSON, anything else as YAML. Any problem raises `ConfigError` naming the file and the
    entry, so the server does not start with half its cast."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"NPC_FILE: cannot read {path}: {e.strerror or e}") from None
    try:
        data: Any = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"NPC_FILE {path}: not valid {p.suffix or 'YAML'}: {e}") from None
    if isinstance(data, dict) and "npcs" in data:
        data = data["npcs"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ConfigError(f"NPC_FILE {path}: expected a list of NPCs (or {{npcs: [...]}})")
    out: list[PinnedNpc] = []
    keys: dict[str, int] = {}
    for i, entry in enumerate(data):
        label = f"entry {i}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']!r})"
        try:
            npc = PinnedNpc.model_validate(entry)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'entry'}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(f"NPC_FILE {path}: {label}: {problems}") from None
        if npc.key in keys:
            raise ConfigError(
                f"NPC_FILE {path}: {label}: id {npc.key!r} already used by entry {keys[npc.key]}"
            )
        keys[npc.key] = i
        out.append(npc)
    return out


class Directory:
    """Identity of every NPC slot: generated from the seed unless pinned or given at spawn.

    Only overrides are stored (pinned NPCs, spawned ones); the 10,000 generated identities
    are computed when asked for."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.overrides: dict[int, NpcIdentity] = {}
        self.spawned = 0  # NPCs spawned without an identity so far (they get generated ones)

    def get(self, slot: int) -> NpcIdentity:
        ident = self.overrides.get(slot)
        return ident if ident is not None else generate_identity(self.seed, slot)

    def set(self, slot: int, ident: NpcIdentity) -> None:
        self.overrides[slot] = ident

    def forget(self, slot: int) -> None:
        self.overrides.pop(slot, None)
