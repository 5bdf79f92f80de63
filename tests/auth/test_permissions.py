"""Permissions: roles group them, the admin:commands umbrella, wildcards, tiers, role files."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.auth.permissions import (
    ALL_PERMISSIONS,
    OWNER_ONLY,
    AdminPermission,
    Grants,
    Permission,
    RoleCatalogue,
    Tier,
    UnknownPermission,
)

ROLES = RoleCatalogue.default()


def test_the_seed_permissions_exist_verbatim() -> None:
    assert {p.value for p in Permission} == {
        "play:game",
        "create:faction",
        "admin:commands",
        "ai:premium",
        "beta:features",
    }
    assert len(AdminPermission) >= 25


def test_moderator_can_kick_and_warn_but_not_ban_or_touch_the_economy() -> None:
    mod = ROLES.grants_for("moderator", Tier.FREE)
    assert mod.has("players.kick") and mod.has("players.warn")
    for denied in ("players.ban", "players.unban", "economy.give", "economy.take"):
        assert not mod.has(denied), denied
    assert mod.can_open_admin()
    assert not mod.has(Permission.ADMIN_COMMANDS)


def test_player_cannot_open_the_admin_console() -> None:
    player = ROLES.grants_for("player", Tier.FREE)
    assert player.has("play:game") and player.has("create:faction")
    assert not player.can_open_admin()
    assert not any(player.has(p) for p in AdminPermission)


def test_admin_commands_is_the_umbrella_except_owner_only() -> None:
    admin = Grants.of(["admin:commands"])
    assert all(admin.has(p) for p in AdminPermission if p not in OWNER_ONLY)
    assert not admin.has("roles.manage")
    owner = ROLES.grants_for("owner", Tier.FREE)
    assert all(owner.has(p) for p in ALL_PERMISSIONS)


def test_wildcards_grant_their_subtree_only() -> None:
    g = Grants.of(["players.*"])
    assert g.has("players.ban") and g.has("players.kick")
    assert not g.has("economy.give") and not g.has("announce")
    npcs = Grants.of(["npcs.memory.*"])
    assert npcs.has("npcs.memory.read") and not npcs.has("npcs.spawn")


def test_typos_are_errors_in_checks_and_roles_but_ignored_in_tokens() -> None:
    with pytest.raises(UnknownPermission):
        Grants.of([]).has("players.kik")
    with pytest.raises(UnknownPermission):
        Grants.of(["players.kik"])
    with pytest.raises(ValueError, match=r"players\.kik"):
        RoleCatalogue({"mod": ["players.kik"]})
    assert Grants.from_claims(["from:the_future", "play:game"]).granted == {"play:game"}


def test_tiers_map_to_the_ai_and_beta_permissions() -> None:
    free = ROLES.grants_for("player", Tier.FREE)
    premium = ROLES.grants_for("player", Tier.PREMIUM)
    assert not free.has("ai:premium") and not free.has("beta:features")
    assert premium.has("ai:premium") and premium.has("beta:features")
    assert ROLES.claims_for("player", Tier.PREMIUM) == sorted(
        ["play:game", "create:faction", "ai:premium", "beta:features"]
    )
    assert "admin:commands" in ROLES.claims_for("admin", Tier.FREE)


def test_roles_load_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "roles.toml"
    path.write_text(
        '[roles]\nhelper = ["play:game", "players.warn"]\nstaff = ["play:game", "players.*"]\n'
    )
    roles = RoleCatalogue.from_toml(path)
    assert roles.names() == ["helper", "staff"]
    helper = roles.grants_for("helper", Tier.FREE)
    assert helper.has("players.warn") and not helper.has("players.kick")
    assert roles.grants_for("staff", Tier.FREE).has("players.ban")
    assert roles.claims_for("staff", Tier.FREE)[0] == "create:faction"
    path.write_text('[roles]\nhelper = "play:game"\n')
    with pytest.raises(ValueError):
        RoleCatalogue.from_toml(path)
    with pytest.raises(ValueError):
        roles.role("nobody")
