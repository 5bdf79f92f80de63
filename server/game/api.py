"""The extension API for game modes: what a module named in GAME_MODULES gets in `setup(api)`.

A game mode is the Python equivalent of a FiveM resource or a Colyseus room handler:

    def setup(api: GameApi) -> None:
        @api.on_message("taxi.start")
        def start(player: Player, data: dict[str, Any]) -> None:
            api.send(player, "taxi.fare", {"npc": 12})

        api.on(PlayerLeft, lambda ev: ...)
        api.every(0.25, check_zones)

Everything a mode registers runs on the event loop between ticks and is measured
(`ganggpt_game_handler_seconds{handler=...}`): a call over GAME_HANDLER_BUDGET_MS is logged and
counted, one that raises is logged and counted, and for a message handler its client gets
HANDLER_FAILED while everyone else plays on. Nothing here may block: slow work (storage, AI,
HTTP) belongs in an event worker (`api.worker`), which runs on its own task.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from config import Config
from protocol import control
from protocol.catalogue import ErrorCode, ProtocolError
from server.game.events import CustomEvent, Event, EventBus, HandlerTimer, Overflow, Worker
from server.game.player import Player
from server.world.commands import Command, SpawnNpc
from server.world.world import World

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.modes")

MessageHandler = Callable[[Player, dict[str, Any]], None]
E = TypeVar("E", bound=Event)


class GameModeError(Exception):
    """A module in GAME_MODULES could not be loaded or set up (raised at start)."""


class Timer:
    """A callback on the event loop, once (`after`) or repeatedly (`every`), measured."""

    def __init__(
        self,
        owner: Modes,
        seconds: float,
        fn: Callable[[], object],
        label: str,
        *,
        repeat: bool,
    ) -> None:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError("a timer's interval must be a positive number of seconds")
        self.owner = owner
        self.seconds = seconds
        self.fn = fn
        self.label = label
        self.repeat = repeat
        self.cancelled = False
        loop = asyncio.get_running_loop()
        # Repeating timers keep their own schedule (k * seconds after the start), so a late
        # call does not push every later one back.
        self._next = loop.time() + seconds
        self._handle = loop.call_at(self._next, self._fire)
        owner.timers.add(self)

    def _fire(self) -> None:
        if self.cancelled:
            return
        self.owner.timer.run(self.label, self.fn)
        if self.repeat and not self.cancelled:
            loop = asyncio.get_running_loop()
            self._next += self.seconds
            now = loop.time()
            if self._next < now:  # fell behind by more than one interval: skip, do not burst
                self._next = now + self.seconds
            self._handle = loop.call_at(self._next, self._fire)
        else:
            self.owner.timers.discard(self)

    def cancel(self) -> None:
        self.cancelled = True
        self._handle.cancel()
        self.owner.timers.discard(self)


class Modes:
    """Custom message handlers, timers and loaded game modes."""

    def __init__(self, game: Game, timer: HandlerTimer) -> None:
        self.game = game
        self.timer = timer
        self.handlers: dict[str, tuple[str, MessageHandler]] = {}
        self.timers: set[Timer] = set()
        self.modules: list[str] = []

    def register(self, type_: str, fn: MessageHandler, module: str) -> None:
        control.custom_type(type_)
        if type_ in self.handlers:
            raise ValueError(f"custom message {type_!r} is handled already")
        self.handlers[type_] = (f"custom:{type_}", fn)

    def dispatch(self, player: Player, msg: control.Custom) -> None:
        entry = self.handlers.get(msg.type)
        client = player.client
        if entry is None:
            client.fail(
                ProtocolError(f"no game mode handles {msg.type!r}", error=ErrorCode.UNKNOWN_TYPE)
            )
            return
        label, fn = entry
        if not self.timer.run(label, fn, player, msg.data):
            # The server's fault, not the client's: not counted against its error budget.
            self.game.state.metrics.errors.labels(code=ErrorCode.HANDLER_FAILED.name).inc()
            client.send(
                control.error(ErrorCode.HANDLER_FAILED, f"the handler of {msg.type!r} failed")
            )

    def load(self, names: list[str]) -> None:
        for name in names:
            try:
                module = importlib.import_module(name)
            except Exception as e:
                raise GameModeError(f"GAME_MODULES: cannot import {name!r}: {e}") from e
            setup = getattr(module, "setup", None)
            if not callable(setup):
                raise GameModeError(f"GAME_MODULES: {name!r} has no setup(api) function")
            try:
                setup(GameApi(self.game, name))
            except Exception as e:
                raise GameModeError(f"GAME_MODULES: {name}.setup(api) failed: {e}") from e
            self.modules.append(name)
            log.info("game mode %s loaded", name)

    def stop(self) -> None:
        for t in list(self.timers):
            t.cancel()


class GameApi:
    """One game mode's handle on the server. See the module docstring and README."""

    def __init__(self, game: Game, module: str) -> None:
        self._game = game
        self.module = module

    # --- what there is ---

    @property
    def world(self) -> World:
        """The live world (read it; change it through commands and the methods below)."""
        return self._game.state.world

    @property
    def config(self) -> Config:
        return self._game.state.config

    @property
    def players(self) -> Mapping[str, Player]:
        """Playing players by player id."""
        return self._game.state.players

    def player_by_net_id(self, nid: int) -> Player | None:
        return self._game.by_nid.get(nid)

    def npcs_near(self, x: float, y: float, radius: float) -> list[int]:
        """Net ids of the NPCs within `radius` metres of (x, y) now, nearest first."""
        npcs = self.world.npcs
        if not npcs.n:
            return []
        d2 = (npcs.x - x) ** 2 + (npcs.y - y) ** 2
        idx = np.flatnonzero((d2 <= radius * radius) & npcs.alive)
        idx = idx[np.argsort(d2[idx], kind="stable")]
        return [int(npcs.ids[i]) for i in idx]

    def entity_xy(self, nid: int) -> tuple[float, float] | None:
        """Where a live entity (player or NPC) is now, or None."""
        return self.world.entity_xy(nid)

    # --- world commands (server/world/commands.py), applied by the next tick ---

    def spawn_npc(self, cmd: SpawnNpc) -> int | None:
        """Queue a spawn; returns the NPC's net id at once (None: refused, counted)."""
        return self.world.spawn(cmd)

    def submit(self, cmd: Command) -> bool:
        """Queue a world command (walk, stop and face, follow, teleport, set state,
        despawn); False if refused (counted and logged)."""
        return self.world.submit(cmd)

    # --- messages ---

    @overload
    def on_message(self, type_: str) -> Callable[[MessageHandler], MessageHandler]: ...
    @overload
    def on_message(self, type_: str, fn: MessageHandler) -> MessageHandler: ...
    def on_message(
        self, type_: str, fn: MessageHandler | None = None
    ) -> MessageHandler | Callable[[MessageHandler], MessageHandler]:
        """Handle the client message `{"op": "custom", "type": type_, "data": {...}}`:
        `fn(player, data)`. Use as a decorator or call directly."""

        def register(f: MessageHandler) -> MessageHandler:
            self._game.modes.register(type_, f, self.module)
            return f

        return register(fn) if fn is not None else register

    def send(self, player: Player, type_: str, data: dict[str, Any]) -> None:
        """Send `{"op": "custom", "type": type_, "data": data}` to one player."""
        self._game.delivery.to_player(player, self._custom(type_, data))

    def send_to_viewers(self, nid: int, type_: str, data: dict[str, Any]) -> int:
        """To every player who sees entity `nid`; returns how many."""
        return self._game.delivery.to_viewers(nid, self._custom(type_, data))

    def send_to_faction(self, faction: str, type_: str, data: dict[str, Any]) -> int:
        return self._game.delivery.to_faction(faction, self._custom(type_, data))

    def broadcast(self, type_: str, data: dict[str, Any]) -> int:
        return self._game.delivery.to_all(self._custom(type_, data))

    @staticmethod
    def _custom(type_: str, data: dict[str, Any]) -> control.CustomMessage:
        return control.CustomMessage(type=control.custom_type(type_), data=data)

    # --- events ---

    def on(self, kind: type[E], fn: Callable[[E], object]) -> Callable[[], None]:
        """Call `fn(event)` for every event of this type, inline: keep it quick."""
        return self.bus.subscribe(kind, fn, name=f"{self.module}.{fn.__name__}")

    def worker(
        self,
        name: str,
        kinds: tuple[type[Event], ...],
        fn: Callable[[Any], Awaitable[None]],
        *,
        maxsize: int = 1000,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> Worker:
        """Feed these events to `await fn(event)` on a task of its own, through a queue of
        `maxsize` (full: `overflow` drops the oldest or the newest, counted)."""
        return self.bus.worker(
            f"{self.module}.{name}", kinds, fn, maxsize=maxsize, overflow=overflow
        )

    def publish(self, type_: str, data: dict[str, Any], player: Player | None = None) -> None:
        """Publish a `CustomEvent` for other modes and workers."""
        self.bus.publish(CustomEvent(control.custom_type(type_), data, player))

    @property
    def bus(self) -> EventBus:
        return self._game.bus

    # --- time ---

    def every(self, seconds: float, fn: Callable[[], object]) -> Timer:
        """Call `fn()` every `seconds` on the event loop (between ticks), measured."""
        return Timer(self._game.modes, seconds, fn, self._label(fn), repeat=True)

    def after(self, seconds: float, fn: Callable[[], object]) -> Timer:
        return Timer(self._game.modes, seconds, fn, self._label(fn), repeat=False)

    def _label(self, fn: Callable[[], object]) -> str:
        return f"timer:{self.module}.{getattr(fn, '__name__', 'fn')}"

    # --- the player's state ---

    def money(self, player: Player) -> int:
        return player.money

    def change_money(self, player: Player, delta: int, reason: str) -> bool:
        """Add (or take, if negative) money; False, and nothing changes, if it would go below
        zero. The player sees an `event` of type `money`; the ledger records it."""
        return self._game.change_money(player, delta, reason)

    def set_faction(self, player: Player, faction: str | None, rank: int = 0) -> None:
        self._game.set_faction(player, faction, rank)

    def set_mission(self, player: Player, mission: str, status: str) -> None:
        self._game.set_mission(player, mission, status)

    # --- factions (server/game/factions.py) ---

    def member_killed(self, victim: Player, killer: Player, event_id: str) -> bool:
        """`killer` killed `victim` (a game mode's kill rule): when both are in different
        factions their relationship shifts (once per `event_id`, e.g. "kill:{victim}:{tick}"),
        and the members of both hear it. False when no factions are involved."""
        return self._game.factions.member_killed(victim, killer, event_id)
