"""Faction and mission commands.

Faction relationships are stored once per pair (`repos.factions`), the stance following the
strength with the documented hysteresis (server/persistence/stance.py). Mission generation is
the gameplay layer's: `AdminService.generate_mission` is the hook its MissionService installs
(`await hook(player) -> offer as a dict`); without it the command answers `failed`.
"""

from __future__ import annotations

import inspect
from collections import Counter
from typing import Any

from server.admin.players import live
from server.admin.registry import AdminError, Ctx, command
from server.admin.schema import INT, LIMIT, OPT_STR, PLAYER, STR, obj, out
from server.auth.permissions import AdminPermission as P
from server.persistence.stance import canonical_pair, clamp_strength, stance_after

FACTION = {"type": "string", "pattern": "^[a-z0-9_]{2,40}$", "minLength": 2, "maxLength": 40}


async def _relation(ctx: Ctx, a: str, b: str) -> dict[str, Any]:
    state = await ctx.state.persistence.repos.factions.state(a)
    for r in state.relationships if state else ():
        if {r.faction_a, r.faction_b} == {a, b}:
            return {
                "a": r.faction_a,
                "b": r.faction_b,
                "strength": r.strength,
                "state": r.relationship_type,
            }
    x, y = canonical_pair(a, b)
    return {"a": x, "b": y, "strength": 0, "state": "neutral"}


FACTIONS_PAGE = 200  # `factions.list` without `limit`; LIMIT caps a page at 1000
RELATION = out({"a": STR, "b": STR, "strength": INT, "state": STR})


@command(
    "factions.list",
    P.PLAYERS_LIST,
    obj(
        {
            "names": {"type": "array", "items": FACTION, "maxItems": 50},
            "after": FACTION,
            "limit": LIMIT,
        }
    ),
    "Every stored faction by name (a page of `limit`, default 200, after the name `after`;"
    " `next` continues), or only `names`, with members, players online and relationships.",
    result=out(
        {
            "factions": {
                "type": "array",
                "items": out({"name": STR, "display_name": STR, "members": INT, "online": INT}),
            },
            "relations": {"type": "array", "items": RELATION},
            "next": OPT_STR,
        }
    ),
)
async def factions_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    repo = ctx.state.persistence.repos.factions
    limit = int(args.get("limit", FACTIONS_PAGE))
    after = args.get("after")
    names = sorted({n for n in args.get("names", ()) if after is None or n > after})
    more = len(names) > limit
    if "names" not in args:
        # One name past the page says whether another page follows.
        names = await repo.names(after, limit + 1)
        more = len(names) > limit
    names = names[:limit]
    online = Counter(p.faction for p in ctx.state.players.values() if p.faction)
    factions, relations = [], {}
    for name in names:
        state = await repo.state(name)
        if state is None:
            continue
        factions.append(
            {
                "name": state.name,
                "display_name": state.display_name,
                "members": state.members,
                "online": online[state.name],
            }
        )
        for r in state.relationships:
            relations[(r.faction_a, r.faction_b)] = {
                "a": r.faction_a,
                "b": r.faction_b,
                "strength": r.strength,
                "state": r.relationship_type,
            }
    return {
        "factions": factions,
        "relations": list(relations.values()),
        "next": names[-1] if more and names else None,
    }


@command(
    "factions.set_relation",
    P.FACTIONS_EDIT,
    obj(
        {
            "a": FACTION,
            "b": FACTION,
            "strength": {"type": "integer", "minimum": -100, "maximum": 100},
        },
        ("a", "b", "strength"),
    ),
    "Set the relationship of two factions (-100..100); the stance follows the strength.",
    mutates=True,
)
async def factions_set_relation(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    a, b = args["a"], args["b"]
    if a == b:
        raise AdminError("failed", "a faction has no relationship with itself")
    repo = ctx.state.persistence.repos.factions
    for name in (a, b):
        if await repo.state(name) is None:
            raise AdminError("not_found", f"no faction {name!r}")
    before = await _relation(ctx, a, b)
    strength = clamp_strength(int(args["strength"]))
    stance = stance_after(before["state"], strength)
    x, y = canonical_pair(a, b)
    ctx.target = f"{x}/{y}"
    if ctx.admin.set_relation is not None:
        await ctx.admin.set_relation(x, y, strength)
    else:
        await repo.set_relationship(x, y, stance, strength)
    after = await _relation(ctx, a, b)
    ctx.admin.record(
        "faction_relation",
        a=x,
        b=y,
        strength=after["strength"],
        state=after["state"],
        previous=before["strength"],
    )
    return after


@command(
    "missions.generate",
    P.MISSIONS_GENERATE,
    obj({"player": PLAYER}, ("player",)),
    "Generate a mission for a player online and offer it to them.",
    mutates=True,
)
async def missions_generate(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    hook = ctx.admin.generate_mission
    p = live(ctx, args["player"])
    if hook is None:
        raise AdminError("failed", "mission generation is not enabled on this server")
    got = hook(p)
    if inspect.isawaitable(got):
        got = await got
    return {"mission": got}


@command(
    "missions.feed",
    P.PLAYERS_LIST,
    obj({"limit": LIMIT, "player": PLAYER}),
    "Recent mission events (offered, accepted, completed...), newest last; with `player`,"
    " that player's stored offers too.",
)
async def missions_feed(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    limit = int(args.get("limit", 50))
    events = [e for e in ctx.admin.log.last(len(ctx.admin.log)) if e["kind"].startswith("mission")]
    out: dict[str, Any] = {"missions": events[-limit:]}
    if "player" in args:
        p = live(ctx, args["player"])
        offers = await ctx.state.persistence.repos.missions.offers(p.player_id, limit=limit)
        out["offers"] = [
            {
                "mission_id": o.mission_id,
                "title": o.spec.get("mission", {}).get("title"),
                "state": o.state,
                "offered_at": o.offered_at,
                "accepted_at": o.accepted_at,
                "ended_at": o.ended_at,
            }
            for o in offers
        ]
    return out
