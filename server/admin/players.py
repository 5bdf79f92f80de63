"""Player commands: list, inspect, kick, warn, ban, unban, notes, teleport; and money.

`player` arguments are resolved as the contract says: a player_id string, then a net_id
integer, then a display name (case-insensitive) among the players online. Bans act on an
account (`player` of a live account, or `account`: account id or username), so they reach
players who are offline too.
"""

from __future__ import annotations

import math
from typing import Any

from protocol import control
from protocol.catalogue import CloseCode
from server.admin.registry import AdminError, Ctx, command
from server.admin.schema import COORD, PLAYER, obj, text
from server.auth.names import NameRefused, normalize_username
from server.auth.permissions import AdminPermission as P
from server.game.player import Player
from server.world.commands import Teleport

MONEY_MAX = 1_000_000_000


def find_live(ctx: Ctx, ref: Any) -> Player | None:
    st = ctx.state
    if isinstance(ref, int) and not isinstance(ref, bool):
        return st.game.by_nid.get(ref)
    if not isinstance(ref, str):
        return None
    p = st.players.get(ref)
    if p is not None:
        return p
    folded = ref.casefold()
    for p in st.players.values():
        if p.name.casefold() == folded:
            return p
    return None


def live(ctx: Ctx, ref: Any) -> Player:
    p = find_live(ctx, ref)
    if p is None:
        raise AdminError("not_found", f"no player {ref!r} is online")
    ctx.target = p.player_id
    return p


async def account_id_of(ctx: Ctx, ref: Any) -> str:
    """The account a `player`/`account` argument names, online or not."""
    accounts = ctx.state.accounts
    if accounts is None:
        raise AdminError("failed", "accounts are off on this server")
    p = find_live(ctx, ref)
    if p is not None:
        if p.identity.account_id is None:
            raise AdminError("failed", f"{p.name} is a guest: guests have no account (kick)")
        ctx.target = p.identity.account_id
        return p.identity.account_id
    if isinstance(ref, str):
        found = await accounts.store.by_id(ref)
        if found is None:
            try:
                found = await accounts.store.by_username(normalize_username(ref))
            except NameRefused:
                found = None
        if found is not None:
            ctx.target = found.id
            return found.id
    raise AdminError("not_found", f"no account {ref!r}")


def _position(ctx: Ctx, p: Player) -> dict[str, float]:
    w = ctx.state.world.players
    nid = p.nid
    return {"x": w.x.item(nid), "y": w.y.item(nid), "z": w.z.item(nid)}


def _ping(p: Player) -> float | None:
    rtt = getattr(p.client, "rtt_ms", None)
    return None if rtt is None else round(float(rtt), 1)


def summary(ctx: Ctx, p: Player) -> dict[str, Any]:
    score = ctx.admin.violations(p).get("score", 0)
    return {
        "player_id": p.player_id,
        "net_id": p.nid,
        "name": p.name,
        "account": p.identity.account_id,
        **_position(ctx, p),
        "ping_ms": _ping(p),
        "violations": score,
        "guest": p.identity.guest,
    }


@command("players.list", P.PLAYERS_LIST, obj(), "Every player online.")
async def players_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return {"players": [summary(ctx, p) for p in ctx.state.players.values()]}


def _ts(v: float | None) -> float | None:
    return None if v is None or math.isinf(v) else v


@command(
    "players.inspect",
    P.PLAYERS_INSPECT,
    obj({"player": PLAYER}, ("player",)),
    "One player in detail: position, ping, money, faction, violations, notes, warnings, bans.",
)
async def players_inspect(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = find_live(ctx, args["player"])
    repos = ctx.state.persistence.repos
    if p is not None:
        pid = p.player_id
        out: dict[str, Any] = {
            **summary(ctx, p),
            "online": True,
            "money": p.money,
            "faction": p.faction,
            "rank": p.rank,
            "violations": ctx.admin.violations(p),
        }
    else:
        pid = await account_id_of(ctx, args["player"])
        record = await repos.players.get(pid)
        out = {
            "player_id": pid,
            "net_id": None,
            "name": None if record is None else record.name,
            "account": pid,
            "online": False,
            "money": None if record is None else record.money,
            "violations": {"score": 0, "recent": []},
        }
    ctx.target = pid
    notes = await repos.notes.of(pid, 50)
    warnings = await repos.warnings.of(pid, 50)
    out["notes"] = [_note(n) for n in notes]
    out["warnings"] = [
        {
            "warning_id": w.warning_id,
            "author": w.author,
            "reason": w.reason,
            "at": w.created_at,
            "acknowledged_at": w.acknowledged_at,
        }
        for w in warnings
    ]
    bans = []
    accounts = ctx.state.accounts
    account = None if accounts is None else await accounts.store.by_id(pid)
    if account is not None and account.banned_until is not None:
        bans.append(
            {
                "until": _ts(account.banned_until),
                "permanent": math.isinf(account.banned_until),
                "active": account.banned(accounts.now()) if accounts else False,
                "reason": account.ban_reason,
                "by": account.banned_by,
                "at": account.banned_at,
            }
        )
    out["bans"] = bans
    return out


def _note(n: Any) -> dict[str, Any]:
    return {"note_id": n.note_id, "author": n.author, "text": n.text, "at": n.created_at}


@command(
    "players.kick",
    P.PLAYERS_KICK,
    obj({"player": PLAYER, "reason": text(300, 0)}, ("player",)),
    "Disconnect a player now (close 4011 KICKED, not kept for resume).",
    mutates=True,
)
async def players_kick(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = live(ctx, args["player"])
    reason = args.get("reason") or "kicked by an administrator"
    p.client.close(CloseCode.KICKED, reason, keep_for_resume=False)
    return {"kicked": True, "player_id": p.player_id}


@command(
    "players.warn",
    P.PLAYERS_WARN,
    obj({"player": PLAYER, "reason": text(1000)}, ("player", "reason")),
    "Warn a player: stored, and shown to it at once if online (event `warning`).",
    mutates=True,
)
async def players_warn(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = find_live(ctx, args["player"])
    pid = p.player_id if p is not None else await account_id_of(ctx, args["player"])
    ctx.target = pid
    warning = await ctx.state.persistence.repos.warnings.add(
        pid, ctx.principal.username, args["reason"]
    )
    if p is not None:
        ctx.state.game.delivery.to_player(
            p,
            control.GameEvent(
                type="warning",
                data={"warning_id": warning.warning_id, "reason": warning.reason},
            ),
        )
    return {"warning_id": warning.warning_id, "delivered": p is not None}


@command(
    "players.ban",
    P.PLAYERS_BAN,
    obj(
        {
            "player": PLAYER,
            "account": text(100),
            "reason": text(1000),
            "duration_s": {"type": ["integer", "null"], "minimum": 1, "maximum": 10 * 365 * 86400},
        },
        ("reason",),
    )
    | {"anyOf": [{"required": ["player"]}, {"required": ["account"]}]},
    "Ban an account for `duration_s` seconds or for good (null): live connections close with"
    " 4011 at once, every login session and refresh token is revoked; kept across restarts.",
    mutates=True,
)
async def players_ban(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    ref = args.get("player", args.get("account"))
    if ref is None:
        raise AdminError("bad_args", "give `player` or `account`")
    account_id = await account_id_of(ctx, ref)
    accounts = ctx.state.accounts
    assert accounts is not None
    duration = args.get("duration_s")
    until = math.inf if duration is None else accounts.now() + float(duration)
    await accounts.ban(account_id, until=until, reason=args["reason"], actor=ctx.principal.sub)
    # Sessions ending closed the players who hello'd with them; any other live connection of
    # the account (a session already gone) closes here.
    for p in list(ctx.state.players.values()):
        if p.identity.account_id == account_id and not p.client.closing:
            p.client.close(CloseCode.KICKED, "this account is banned", keep_for_resume=False)
    return {"ban_id": ctx.audit_id, "account": account_id, "until": _ts(until)}


@command(
    "players.unban",
    P.PLAYERS_UNBAN,
    obj({"account": text(100)}, ("account",)),
    "Lift an account's ban.",
    mutates=True,
)
async def players_unban(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    account_id = await account_id_of(ctx, args["account"])
    accounts = ctx.state.accounts
    assert accounts is not None
    await accounts.unban(account_id)
    return {"unbanned": True, "account": account_id}


@command(
    "players.notes",
    P.PLAYERS_NOTES,
    obj({"player": PLAYER, "text": text(4000)}, ("player",)),
    "A player's notes (staff only); with `text`, add one first.",
    mutates=True,
)
async def players_notes(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = find_live(ctx, args["player"])
    pid = p.player_id if p is not None else await account_id_of(ctx, args["player"])
    ctx.target = pid
    notes = ctx.state.persistence.repos.notes
    if "text" in args:
        await notes.add(pid, ctx.principal.username, args["text"])
    return {"notes": [_note(n) for n in await notes.of(pid, 100)]}


@command(
    "players.teleport",
    P.PLAYERS_TELEPORT,
    obj({"player": PLAYER, "x": COORD, "y": COORD, "z": COORD}, ("player", "x", "y", "z")),
    "Move a player (it gets a `correct` at the next tick).",
    mutates=True,
)
async def players_teleport(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    p = live(ctx, args["player"])
    x, y, z = float(args["x"]), float(args["y"]), float(args["z"])
    if not ctx.state.world.submit(Teleport(entity=p.nid, x=x, y=y, z=z)):
        raise AdminError("failed", "the world refused the teleport (queue full or off the map)")
    return {"x": x, "y": y, "z": z}


MONEY = {"type": "integer", "minimum": 1, "maximum": MONEY_MAX}


async def _money(ctx: Ctx, args: dict[str, Any], sign: int) -> dict[str, Any]:
    p = live(ctx, args["player"])
    delta = sign * int(args["amount"])
    reason = f"admin:{ctx.principal.username}:{args['reason']}"[:200]
    if not ctx.state.game.change_money(p, delta, reason):
        raise AdminError("failed", f"{p.name} has only {p.money}")
    return {"money": p.money}


@command(
    "economy.give",
    P.ECONOMY_GIVE,
    obj({"player": PLAYER, "amount": MONEY, "reason": text(200)}, ("player", "amount", "reason")),
    "Give money to a player online (recorded in the ledger).",
    mutates=True,
)
async def economy_give(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return await _money(ctx, args, 1)


@command(
    "economy.take",
    P.ECONOMY_TAKE,
    obj({"player": PLAYER, "amount": MONEY, "reason": text(200)}, ("player", "amount", "reason")),
    "Take money from a player online (never below 0).",
    mutates=True,
)
async def economy_take(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return await _money(ctx, args, -1)
