"""Permissions, tiers and roles: who may do what.

Two kinds of permission live here. The seed's five (`play:game`, `create:faction`,
`admin:commands`, `ai:premium`, `beta:features`) are what a game token carries. The admin
permissions (`players.kick`, `economy.give`, ...) are the fine grain an operator hands out, like
txAdmin's, so a moderator can kick and warn without being able to ban or print money.

The umbrella rule: `admin:commands` grants every admin permission except the owner-only ones
(`OWNER_ONLY`, which must be granted by name or by `*`). So a token minted by an older tool
with just `admin:commands` is a full administrator, and the admin surface is open to anyone
holding `admin:commands` or at least one admin permission (`can_open_admin`). Grants may also be
a wildcard: `*` (everything) or `players.*` (every permission under `players.`).

Roles come from `DEFAULT_ROLES` or from a TOML file (`RoleCatalogue.from_toml`), so an operator
can reshape them without code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Permission(StrEnum):
    """The seed's permissions, carried in the token's `permissions` claim."""

    PLAY_GAME = "play:game"
    CREATE_FACTION = "create:faction"
    ADMIN_COMMANDS = "admin:commands"
    AI_PREMIUM = "ai:premium"
    BETA_FEATURES = "beta:features"


class AdminPermission(StrEnum):
    """One per admin command group (issue 10, the console); the umbrella is `admin:commands`."""

    PLAYERS_LIST = "players.list"
    PLAYERS_INSPECT = "players.inspect"
    PLAYERS_KICK = "players.kick"
    PLAYERS_WARN = "players.warn"
    PLAYERS_BAN = "players.ban"
    PLAYERS_UNBAN = "players.unban"
    PLAYERS_NOTES = "players.notes"
    PLAYERS_TELEPORT = "players.teleport"
    PLAYERS_VIOLATIONS = "players.violations"
    ANNOUNCE = "announce"
    NPCS_SPAWN = "npcs.spawn"
    NPCS_DESPAWN = "npcs.despawn"
    NPCS_MEMORY_READ = "npcs.memory.read"
    NPCS_MEMORY_EDIT = "npcs.memory.edit"
    FACTIONS_EDIT = "factions.edit"
    MISSIONS_GENERATE = "missions.generate"
    ECONOMY_GIVE = "economy.give"
    ECONOMY_TAKE = "economy.take"
    SERVER_RESTART = "server.restart"
    SERVER_METRICS = "server.metrics"
    LOGS_TAIL = "logs.tail"
    AUDIT_READ = "audit.read"
    CONFIG_READ = "config.read"
    ACCOUNTS_READ = "accounts.read"
    ACCOUNTS_EDIT = "accounts.edit"
    ROLES_MANAGE = "roles.manage"


# Not implied by `admin:commands`: handing out power stays with the owner.
OWNER_ONLY: frozenset[str] = frozenset({AdminPermission.ROLES_MANAGE})

ALL_PERMISSIONS: frozenset[str] = frozenset(Permission) | frozenset(AdminPermission)
_ADMIN: frozenset[str] = frozenset(AdminPermission)


class Tier(StrEnum):
    """Subscription tier (the token's `tier` claim)."""

    FREE = "free"
    PREMIUM = "premium"


TIER_PERMISSIONS: Mapping[Tier, frozenset[str]] = {
    Tier.FREE: frozenset({Permission.PLAY_GAME, Permission.CREATE_FACTION}),
    Tier.PREMIUM: frozenset(
        {
            Permission.PLAY_GAME,
            Permission.CREATE_FACTION,
            Permission.AI_PREMIUM,
            Permission.BETA_FEATURES,
        }
    ),
}


class UnknownPermission(KeyError):
    """A check or a role named a permission that does not exist (a typo must not pass silently)."""


def _check_grant(grant: str) -> None:
    if grant == "*" or grant in ALL_PERMISSIONS:
        return
    if grant.endswith(".*") and any(p.startswith(grant[:-1]) for p in _ADMIN):
        return
    raise UnknownPermission(grant)


def expand(grants: Iterable[str], *, strict: bool = True) -> frozenset[str]:
    """The concrete permissions `grants` add up to (wildcards and the umbrella resolved).

    `strict=False` drops unknown names instead of raising: a token minted by a newer server may
    carry permissions this one does not know, and they must simply grant nothing here.
    """
    out: set[str] = set()
    for grant in grants:
        try:
            _check_grant(grant)
        except UnknownPermission:
            if strict:
                raise
            continue
        if grant == "*":
            return ALL_PERMISSIONS
        if grant.endswith(".*"):
            out.update(p for p in _ADMIN if p.startswith(grant[:-1]))
        else:
            out.add(grant)
            if grant == Permission.ADMIN_COMMANDS:
                out.update(_ADMIN - OWNER_ONLY)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Grants:
    """What one principal may do; `has` is a set lookup (checks run per admin command)."""

    granted: frozenset[str]

    @classmethod
    def of(cls, grants: Iterable[str], *, strict: bool = True) -> Grants:
        return cls(expand(grants, strict=strict))

    @classmethod
    def from_claims(cls, permissions: Iterable[str]) -> Grants:
        """From a token's `permissions` claim: unknown names grant nothing."""
        return cls(expand(permissions, strict=False))

    def has(self, permission: str) -> bool:
        if permission not in ALL_PERMISSIONS:
            raise UnknownPermission(permission)
        return permission in self.granted

    def can_open_admin(self) -> bool:
        """The admin console opens for the umbrella or for any single admin permission."""
        return Permission.ADMIN_COMMANDS in self.granted or bool(self.granted & _ADMIN)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    grants: frozenset[str]  # as written (wildcards kept), for tokens and display


DEFAULT_ROLES: Mapping[str, frozenset[str]] = {
    "player": frozenset({Permission.PLAY_GAME, Permission.CREATE_FACTION}),
    "premium": frozenset(
        {
            Permission.PLAY_GAME,
            Permission.CREATE_FACTION,
            Permission.AI_PREMIUM,
            Permission.BETA_FEATURES,
        }
    ),
    "moderator": frozenset(
        {
            Permission.PLAY_GAME,
            Permission.CREATE_FACTION,
            AdminPermission.PLAYERS_LIST,
            AdminPermission.PLAYERS_INSPECT,
            AdminPermission.PLAYERS_KICK,
            AdminPermission.PLAYERS_WARN,
            AdminPermission.PLAYERS_NOTES,
            AdminPermission.PLAYERS_VIOLATIONS,
            AdminPermission.ANNOUNCE,
            AdminPermission.SERVER_METRICS,
            AdminPermission.LOGS_TAIL,
        }
    ),
    "admin": frozenset(
        {Permission.PLAY_GAME, Permission.CREATE_FACTION, Permission.ADMIN_COMMANDS}
    ),
    "owner": frozenset({"*"}),
}


class RoleCatalogue:
    """Named roles. Unknown permission names are refused when the catalogue is built."""

    def __init__(self, roles: Mapping[str, Iterable[str]]) -> None:
        self._roles: dict[str, Role] = {}
        for name, grants in roles.items():
            frozen = frozenset(grants)
            for grant in frozen:
                try:
                    _check_grant(grant)
                except UnknownPermission:
                    raise ValueError(f"role {name!r}: unknown permission {grant!r}") from None
            self._roles[name] = Role(name, frozen)
        self._expanded = {name: expand(role.grants) for name, role in self._roles.items()}

    @classmethod
    def default(cls) -> RoleCatalogue:
        return cls(DEFAULT_ROLES)

    @classmethod
    def from_toml(cls, path: Path) -> RoleCatalogue:
        """`[roles] moderator = ["play:game", "players.kick", ...]`; the loader seam for operators."""
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        roles = data.get("roles")
        if not isinstance(roles, dict) or not all(
            isinstance(v, list) and all(isinstance(g, str) for g in v) for v in roles.values()
        ):
            raise ValueError(f"{path}: expected a [roles] table of permission lists")
        return cls(roles)

    def __contains__(self, name: object) -> bool:
        return name in self._roles

    def names(self) -> list[str]:
        return sorted(self._roles)

    def role(self, name: str) -> Role:
        try:
            return self._roles[name]
        except KeyError:
            raise ValueError(f"unknown role {name!r}") from None

    def claims_for(self, role: str, tier: Tier) -> list[str]:
        """The `permissions` claim for an account: its role's grants plus its tier's, sorted."""
        return sorted(self.role(role).grants | TIER_PERMISSIONS[tier])

    def grants_for(self, role: str, tier: Tier) -> Grants:
        return Grants(self._expanded[self.role(role).name] | TIER_PERMISSIONS[tier])
