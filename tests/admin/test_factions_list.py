"""`factions.list` through the console: every stored faction, paged by name, with the
members online; in memory and in SQLite (the storage query)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_config
from server.app import default_persistence
from tests.admin.support import account, open_admin
from tests.server.conftest import BASE, ServerFactory
from tests.server.test_accounts_http import AUTH
from tests.server.test_auth_join import join, wait_for


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_every_stored_faction_paged_with_players_online(
    start: ServerFactory, tmp_path: Path, store: str
) -> None:
    if store == "sqlite":
        db = str(tmp_path / "game.db")
        cfg = load_config(**{**BASE, **AUTH, "sqlite_path": db})
        srv = await start(persistence=default_persistence(cfg), **AUTH, sqlite_path=db)
    else:
        srv = await start(**AUTH)
    repo = srv.state.persistence.repos.factions
    for name in ("vagos", "aztecas", "lost_mc", "ballas"):
        await repo.create(name, name.title())
    carl, carl_token = await account(srv, "Carl")
    niko, _ = await account(srv, "Niko")
    await repo.join(carl, "ballas")
    await repo.join(niko, "ballas")  # a member, not online
    _, token = await account(srv, "Boss", "admin")
    p = await join(srv, "Carl", carl_token)
    await wait_for(lambda: any(q.faction == "ballas" for q in srv.state.players.values()))
    a = await open_admin(srv, token)
    await repo.set_relationship("ballas", "vagos", "hostile", -30)

    # Three of ours have no one online, the seeded ones neither: all are listed, by name.
    everything = await a.ok("factions.list")
    rows = {f["name"]: (f["members"], f["online"]) for f in everything["factions"]}
    names = [f["name"] for f in everything["factions"]]
    assert names == sorted(names) and len(names) > 4
    assert [rows[n] for n in ("aztecas", "ballas", "lost_mc", "vagos")] == [
        (0, 0),
        (2, 1),
        (0, 0),
        (0, 0),
    ]
    assert sum(online for _, online in rows.values()) == 1
    assert next(f for f in everything["factions"] if f["name"] == "aztecas")["display_name"] == (
        "Aztecas"
    )
    assert {"a": "ballas", "b": "vagos", "strength": -30, "state": "hostile"} in everything[
        "relations"
    ]
    assert everything["next"] is None

    # Pages of 3 follow `next` to the same list.
    paged: list[str] = []
    after: str | None = None
    while True:
        page = await a.ok("factions.list", limit=3, **({} if after is None else {"after": after}))
        paged += [f["name"] for f in page["factions"]]
        assert len(page["factions"]) <= 3
        after = page["next"]
        if after is None:
            break
        assert after == paged[-1]
    assert paged == names

    only = await a.ok("factions.list", names=["vagos", "nobody", "aztecas"])
    assert [f["name"] for f in only["factions"]] == ["aztecas", "vagos"]
    too_many = await a.cmd("factions.list", limit=1001)
    assert too_many["error"]["code"] == "bad_args"
    await a.ws.close()
    await p.ws.close()
