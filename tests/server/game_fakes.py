"""A fake client and a socket-free game, for driving the game layer directly in tests."""

from __future__ import annotations

import uuid
from typing import Any

from config import load_config
from protocol import control
from protocol.catalogue import CloseCode, ProtocolError
from server.game.player import Identity, Player
from server.persistence.api import PlayerRecord, ResumeSession
from server.persistence.memory import MemoryPersistence
from server.state import ServerState

GAME_BASE: dict[str, Any] = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 20,
    "spawn_area_size": 200.0,
    "log_level": "warning",
    "sqlite_path": "",
}


class FakeClient:
    """Implements `server.game.player.Client`, recording what the game did to it."""

    def __init__(self, peer: str = "fake") -> None:
        self.peer = peer
        self.slot = -1
        self.ack = 0
        self.closing = False
        self.paused = False
        self.sent: list[control.ServerMessage] = []
        self.raw: list[bytes] = []
        self.failures: list[tuple[ProtocolError, int | None]] = []
        self.closed: tuple[CloseCode, str, bool] | None = None
        self.frames: list[bytes] = []
        self.player: Player | None = None
        self.is_verified = False

    def send(self, msg: control.ServerMessage) -> None:
        self.sent.append(msg)

    def send_raw_text(self, data: bytes) -> None:
        self.raw.append(data)
        self.sent.append(control.decode_server(data))

    def send_state(self, payload: bytes) -> None:
        self.frames.append(payload)

    def fail(self, e: ProtocolError, ref: int | None = None) -> None:
        self.failures.append((e, ref))

    def close(self, code: CloseCode, reason: str = "", *, keep_for_resume: bool = True) -> None:
        if self.closing:
            return
        self.closing = True
        self.closed = (code, reason, keep_for_resume)

    def verified(self) -> bool:
        self.is_verified = not self.closing
        return self.is_verified

    def bind(self, player: Player, slot: int) -> bool:
        self.player = player
        self.slot = slot
        return not self.closing

    def of(self, kind: type[Any]) -> list[Any]:
        return [m for m in self.sent if isinstance(m, kind)]

    @property
    def error_names(self) -> list[str]:
        out = [e.error.name for e, _ in self.failures if e.error is not None]
        out += [m.name for m in self.sent if isinstance(m, control.Error)]
        return out


def make_state(**overrides: Any) -> ServerState:
    cfg = load_config(**{**GAME_BASE, **overrides})
    return ServerState.create(cfg, MemoryPersistence())


def place(
    st: ServerState,
    name: str,
    x: float | None = None,
    y: float | None = None,
    client: FakeClient | None = None,
    session: ResumeSession | None = None,
) -> tuple[Player, FakeClient]:
    """Put a player in the world the way a join does, synchronously (no storage)."""
    c = client or FakeClient(name)
    rec = PlayerRecord(player_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), name=name)
    if x is not None and y is not None:
        rec.x, rec.y, rec.has_position = x, y, True
    p = st.game.join._place(c, Identity(name), rec, session)
    assert p is not None, c.closed
    return p, c
