"""The console's event log: a bounded ring of game and admin events (`logs.tail`, the
`events` push), fed by the game's event bus. Inline bus subscribers run between ticks and do
O(1) work here (one dict, one deque append, pushes to the few admin sessions)."""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server.game.events import FactionChanged, MissionChanged, PlayerJoined, PlayerLeft

if TYPE_CHECKING:
    from server.admin.service import AdminService


class EventLog:
    def __init__(self, size: int) -> None:
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        event = {**fields, "seq": next(self._seq), "at": time.time(), "kind": kind}
        self._ring.append(event)
        return event

    def last(self, n: int) -> list[dict[str, Any]]:
        """The newest `n`, oldest first."""
        if n <= 0:
            return []
        return list(itertools.islice(self._ring, max(0, len(self._ring) - n), None))

    def __len__(self) -> int:
        return len(self._ring)


def _who(p: Any) -> dict[str, Any]:
    return {"player_id": p.player_id, "net_id": p.nid, "name": p.name}


def watch_game(admin: AdminService) -> Callable[[], None]:
    """Subscribe the log to the game's events; returns the unsubscribe."""
    bus = admin.state.game.bus

    def joined(ev: PlayerJoined) -> None:
        data = {**_who(ev.player), "resumed": ev.resumed}
        admin.record("player_joined", **data)
        admin.publish("players", {"change": "joined", **data})

    def left(ev: PlayerLeft) -> None:
        data = _who(ev.player)
        admin.record("player_left", **data)
        admin.publish("players", {"change": "left", **data})

    def faction(ev: FactionChanged) -> None:
        admin.record("faction_changed", **_who(ev.player), old=ev.old, new=ev.new, rank=ev.rank)

    def mission(ev: MissionChanged) -> None:
        admin.record("mission", **_who(ev.player), mission=ev.mission, status=ev.status)

    undo = [
        bus.subscribe(PlayerJoined, joined, name="admin"),
        bus.subscribe(PlayerLeft, left, name="admin"),
        bus.subscribe(FactionChanged, faction, name="admin"),
        bus.subscribe(MissionChanged, mission, name="admin"),
    ]

    def unwatch() -> None:
        for u in undo:
            u()

    return unwatch
