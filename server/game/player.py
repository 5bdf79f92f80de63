"""A player as the game sees it, and the narrow interface to the connection behind it.

The player refers to its connection (as a `Client`), never the other way round: game code can
be driven by a fake client in tests, and a future transport (a bot, another process) only has
to implement these few methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from protocol import control
from protocol.catalogue import CloseCode, ProtocolError
from server.auth.permissions import Grants
from server.game.anticheat import Violations

if TYPE_CHECKING:
    from server.world.players import Players

PLAY_GAME = "play:game"


class Client(Protocol):
    """What the game needs from a connection."""

    peer: str
    slot: int  # the client's row in `ServerState.viewers` once playing, else -1
    ack: int  # newest STATE seq the client has acknowledged

    @property
    def closing(self) -> bool: ...

    @property
    def paused(self) -> bool:
        """True while the client's socket buffer is full (it gets no patches meanwhile)."""
        ...

    def send(self, msg: control.ServerMessage) -> None: ...

    def send_raw_text(self, data: bytes) -> None:
        """An already encoded JSON message (encoded once, sent to many)."""
        ...

    def send_state(self, payload: bytes) -> None: ...

    def fail(self, e: ProtocolError, ref: int | None = None) -> None:
        """Answer a rejected message with its error (counted against the error budget)."""
        ...

    def close(self, code: CloseCode, reason: str = "", *, keep_for_resume: bool = True) -> None: ...

    def verified(self) -> bool:
        """The hello's identity was accepted; False if the client went away meanwhile."""
        ...

    def bind(self, player: Player, slot: int) -> bool:
        """The player is in the world with this viewer slot: the client plays from now on.
        False if the client went away meanwhile (the caller then takes the player out)."""
        ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a hello proved to be (server/game/identity.py fills it from `server.auth.hello`).

    `name` is the display name others see, never what identifies the player: an account is
    its token's `sub` (`account_id`, also its player id), a guest its `guest_id`."""

    name: str
    account_id: str | None = None  # the token's `sub`; None for guests
    guest: bool = True
    guest_id: str | None = None  # a guest's stable id (uuid5 of its normalised name)
    tier: str = "free"
    permissions: frozenset[str] = field(default_factory=lambda: frozenset({PLAY_GAME}))
    sid: str | None = None  # the login session; its end (ban, logout...) closes the connection
    role: str | None = None

    @property
    def owner(self) -> str:
        """Who holds the display name in `AccountService.names`."""
        return self.account_id or self.guest_id or self.name

    @property
    def grants(self) -> Grants:
        return Grants.from_claims(self.permissions)


class Player:
    """One player in the game. Live money and armor are here (not in the world arrays):
    loaded at join, written by every snapshot. Game code changes money through
    `Game.change_money`, which publishes the event and makes it durable."""

    __slots__ = (
        "active",
        "armor",
        "budget_at",
        "client",
        "climb_budget",
        "faction",
        "identity",
        "input_seq",
        "last_x",
        "last_y",
        "last_z",
        "money",
        "move_budget",
        "name",
        "nid",
        "player_id",
        "rank",
        "resume_token",
        "spectator",
        "violations",
        "world",
    )

    def __init__(
        self,
        player_id: str,
        nid: int,
        name: str,
        client: Client,
        world: Players,
        *,
        identity: Identity | None = None,
        money: int = 0,
        armor: int = 0,
    ) -> None:
        self.player_id = player_id
        self.nid = nid
        self.name = name
        self.client = client
        self.world = world
        self.identity = identity or Identity(name)
        self.money = money
        self.armor = armor
        self.faction: str | None = None
        self.rank = 0
        self.resume_token = ""
        self.active = False  # in the world (between JoinService._place and leave)
        # Movement budgets (movement.py): metres this player may still move, and rise.
        self.move_budget = 0.0
        self.climb_budget = 0.0
        self.budget_at = 0.0
        self.input_seq = 0  # newest INPUT seq taken on this connection; older ones are STALE_INPUT
        # Where movement last put the player: elsewhere means the server moved it since.
        self.last_x = self.last_y = self.last_z = 0.0
        self.violations = Violations()  # anti-cheat score (anticheat.py); admin reads it
        # A spectator (SPEC §3.8) is a camera: `nid` names its view, not an entity; its INPUT
        # moves the camera without a speed limit, and it may not chat, talk or send custom.
        self.spectator = False

    @property
    def permissions(self) -> frozenset[str]:
        return self.identity.permissions

    @property
    def tier(self) -> str:
        return self.identity.tier

    @property
    def slot(self) -> int:
        return self.client.slot

    @property
    def ack(self) -> int:
        return self.client.ack

    @property
    def health(self) -> int:
        return int(self.world.health[self.nid])

    @property
    def position(self) -> tuple[float, float, float]:
        w = self.world
        n = self.nid
        return w.x.item(n), w.y.item(n), w.z.item(n)

    def __repr__(self) -> str:
        return f"Player({self.player_id!r}, {self.name!r}, nid={self.nid})"
