"""The asyncio Python client: a connection that keeps a mirror of the world and survives drops.

    async with connect("ws://127.0.0.1:22005/ws", name="bot") as client:
        client.move(10.0, 20.0, 30.0, 90.0)
        async for ev in client.events():
            ...

Why this shape: bots, tools and tests all want the same three things from a connection -- an
up-to-date view of what they can see, a stream of what changed, and a session that outlives
the socket (server drains, Wi-Fi blips). The protocol bookkeeping lives in the sans-I/O
`protocol.mirror.Mirror`; this module only moves bytes, keeps time and decides when to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.connection import broadcast
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

from client_sdk.missions import (
    MissionAccepted,
    MissionCompleted,
    MissionEvent,
    MissionFailed,
    MissionInfo,
    MissionOffered,
    MissionProgressed,
    MissionSdkEvent,
    MissionsListed,
    MoneyChanged,
)
from client_sdk.missions import (
    typed_event as mission_event,
)
from client_sdk.social import (
    CompanionInfo,
    CompanionUpdate,
    FactionInfo,
    FactionMember,
    FactionUpdate,
    RequestRefusedError,
    SocialEvent,
)
from client_sdk.social import (
    typed_event as social_event,
)
from protocol.catalogue import CloseCode
from protocol.control import Welcome
from protocol.mirror import (
    CloseAction,
    CustomReceived,
    Entity,
    ErrorReceived,
    Event,
    GameEventReceived,
    Mirror,
    MirrorStats,
    Npc,
    NpcSaid,
    NpcSaidPart,
    Player,
    PongReceived,
    ReconnectRequested,
    Welcomed,
    WhoReceived,
    close_action,
    close_code_name,
)

log = logging.getLogger("client_sdk")

# --- SDK-level events and errors --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The socket closed. `will_retry` tells whether the client is about to reconnect."""

    code: int | None
    code_name: str
    reason: str
    will_retry: bool


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new socket is up and welcomed. `resumed` is False if the server had forgotten us
    (resume window over, or the server restarted without its state): same name, new player."""

    attempt: int
    resumed: bool
    welcome: Welcome


@dataclass(frozen=True, slots=True)
class Closed:
    """The client is finished: no more events after this one. `error` is None on a clean end."""

    code: int | None
    code_name: str
    reason: str
    error: str | None


ClientEvent = Event | Disconnected | Reconnected | Closed | SocialEvent | MissionSdkEvent
E = TypeVar("E")
S = TypeVar("S", bound=SocialEvent)


class ClientError(Exception):
    """Base of the SDK's errors."""


class ClientClosedError(ClientError):
    """The client is closed (or the server ended it). `code_name` says why, e.g. SERVER_FULL."""

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.code_name = close_code_name(code)
        self.reason = reason


class FatalCloseError(ClientClosedError):
    """The server refused us with a code a retry cannot fix (4001, 4003-4008, 4010, 4011)."""


class ReconnectFailedError(ClientClosedError):
    """Every reconnect attempt failed."""


class HandshakeError(ClientError):
    """The server answered the hello with something other than a welcome."""


class MissionRefusedError(ClientError):
    """The server refused a mission request: `reason` is the SPEC §12 reason
    (`incomplete`, `unknown_mission`, ...; `unknown_entity` when the NPC is not in view)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- the client -----------------------------------------------------------------------------

# How long to keep reconnecting when the server has not said (SPEC default RESUME_WINDOW).
DEFAULT_RESUME_WINDOW = 60.0


class Client:
    """One player's connection. Create it with `connect(...)`.

    State (always the latest, read it any time): `entities`, `me`, `net_id`, `player_id`,
    `welcome`, `stats`. Events: `events()` (async iterator), `on(Type, fn)` (callbacks),
    `wait_for(predicate)`. Actions: `move` (synchronous, coalescing), `chat`, `talk` (and
    `ask`, which waits for the reply), `ping`, `leave`, `close`.
    """

    def __init__(
        self,
        url: str,
        name: str,
        token: str | None = None,
        *,
        reconnect: bool = True,
        max_attempts: int | None = None,
        reconnect_for: float | None = None,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        open_timeout: float = 10.0,
        event_queue_size: int = 10_000,
        input_rate_share: float = 0.8,
    ) -> None:
        self.url = url
        self.mirror = Mirror(name=name, token=token)
        self.reconnect = reconnect
        self.max_attempts = max_attempts
        """Reconnect attempts before giving up; None = as many as fit in `reconnect_for`."""
        self.reconnect_for = reconnect_for
        """Seconds after a drop to keep trying; None = the server's resume window (its
        `welcome` or `reconnect` says how long it keeps the player), 60 s if not known yet."""
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.event_queue_size = event_queue_size
        self.input_rate_share = input_rate_share
        self.error: ClientClosedError | None = None
        """Why the client ended, if it ended badly; None while running or after a clean end."""
        self.events_dropped = 0
        """Events a slow `events()` consumer lost (its queue holds `event_queue_size`)."""
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # set while a welcomed socket is up
        self._done = asyncio.Event()  # set once Closed was emitted
        self._closing = False  # we asked to stop: a close is not a reason to reconnect
        self._queues: set[asyncio.Queue[ClientEvent]] = set()
        self._callbacks: list[tuple[type[Any], Callable[[Any], object]]] = []
        self._waiters: list[tuple[Callable[[ClientEvent], bool], asyncio.Future[ClientEvent]]] = []
        self._pings: dict[int, asyncio.Future[float]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._pending_move: tuple[float, float, float, float] | None = None
        self._move_timer: asyncio.TimerHandle | None = None
        self._next_input_at = 0.0
        self._resume_after: float | None = None
        self._resume_window: float | None = None  # from a `reconnect` notice
        self.money: int | None = None
        """The player's money as the last `money` event said (None before the first)."""
        self.known_missions: dict[str, MissionInfo] = {}
        """Every mission the server told this client about, by id, as last described (its
        `objectives` updated by `mission.progress`)."""
        self._mission_lock: asyncio.Lock | None = None

    # --- read-only state --------------------------------------------------------------------

    @property
    def entities(self) -> Mapping[int, Entity]:
        """Visible entities by net id (read-only view; updated as frames arrive)."""
        return self.mirror.entities

    @property
    def me(self) -> Player | None:
        return self.mirror.me

    @property
    def net_id(self) -> int | None:
        return self.mirror.net_id

    @property
    def player_id(self) -> str | None:
        return self.mirror.player_id

    @property
    def welcome(self) -> Welcome | None:
        return self.mirror.welcome

    @property
    def stats(self) -> MirrorStats:
        return self.mirror.stats

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def closed(self) -> bool:
        return self._done.is_set()

    def server_tick(self) -> float:
        """The server's tick now, extrapolated from the last frame (for NPC positions)."""
        return self.mirror.estimate_tick(time.time())

    def npc_position(self, npc: Npc, tick: float | None = None) -> tuple[float, float, float]:
        """Where an NPC is at `tick`, by default now (extrapolated along its path)."""
        return self.mirror.npc_position(npc, self.server_tick() if tick is None else tick)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and wait for the welcome; raises if the first connection fails.

        The first connection does not retry: a wrong URL or a full server should fail fast
        and loudly, not after a minute of backoff."""
        if self._task is not None:
            raise ClientError("already started")
        ws, events = await self._open()
        self._attach(ws)
        self._dispatch(events)
        self._task = asyncio.create_task(self._run(ws), name=f"client_sdk:{self.mirror.name}")

    async def leave(self, timeout: float = 5.0) -> None:
        """Quit for good: the server forgets the player (no resume) and closes with 1000."""
        if self.closed:
            return
        self._closing = True
        ws = self._ws
        if ws is not None and self.connected:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(self.mirror.leave(), text=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), timeout)
        await self.close()

    async def close(self) -> None:
        """Close the socket (the server keeps the player for its resume window) and stop."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        task = self._task
        if task is not None and not task.done() and not self.connected:
            task.cancel()  # between sockets (backoff sleep, handshake): stop now, not later
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self.closed:
            self._finish(ws.close_code if ws is not None else None, "closed by client", None)

    async def __aenter__(self) -> Client:
        if self._task is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.leave()

    # --- events -----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event from now on, ending with `Closed`. Each iterator has its own queue, so
        several consumers can iterate at once; an iterator that falls `event_queue_size`
        events behind loses the oldest ones (counted in `events_dropped`) rather than
        letting memory grow without bound."""
        if self.closed:
            return
        q: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._queues.add(q)
        try:
            while True:
                ev = await q.get()
                yield ev
                if isinstance(ev, Closed):
                    return
        finally:
            self._queues.discard(q)

    def on(self, event_type: type[E], fn: Callable[[E], object]) -> Callable[[], None]:
        """Call `fn(ev)` for every event of `event_type` (or a subclass); returns an
        unsubscribe function. `fn` may be a coroutine function: it then runs as a task.
        A callback that raises is logged and stays subscribed."""
        entry: tuple[type[Any], Callable[[Any], object]] = (event_type, fn)
        self._callbacks.append(entry)

        def off() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(entry)

        return off

    async def wait_for(
        self, predicate: Callable[[ClientEvent], bool], timeout: float = 10.0
    ) -> ClientEvent:
        """The first event from now on for which `predicate(ev)` is true.

        Raises TimeoutError after `timeout` seconds, or the client's error if it ends first."""
        if self.closed:
            raise self._closed_error()
        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def wait_closed(self, timeout: float | None = None) -> ClientClosedError | None:
        """Wait until the client has ended; returns why (None for a clean end)."""
        await asyncio.wait_for(self._done.wait(), timeout)
        return self.error

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Return once `condition()` is true, checking now and after every event (e.g.
        `lambda: 42 in client.entities`). Raises TimeoutError after `timeout` seconds."""
        if condition():
            return
        await self.wait_for(lambda _ev: condition(), timeout)

    # --- actions ----------------------------------------------------------------------------

    def move(self, x: float, y: float, z: float, heading: float) -> None:
        """Say where this player is now (absolute position, metres; heading in degrees).

        Synchronous and never blocks: the latest position wins. Inputs are sent at most at
        `input_rate_share` of the server's INPUT_RATE_LIMIT; calls in between only replace
        the pending position, and it is sent (with the ack of the last STATE frame) as soon
        as the budget allows -- also after a reconnect. Non-finite numbers raise ValueError
        here rather than earning an error from the server."""
        for v in (x, y, z, heading):
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError("position and heading must be finite")
        self._pending_move = (x, y, z, heading)
        if self._move_timer is None:
            self._flush_move()

    async def chat(self, text: str, timeout: float = 10.0) -> None:
        """Say something to every player who can see you."""
        await self._send_text(self.mirror.chat(text), timeout)

    async def talk(self, npc: int | Npc, text: str, timeout: float = 10.0) -> None:
        """Speak to an NPC you can see; its answer streams in as `NpcSaidPart` events and
        ends with an `NpcSaid` (or use `ask`, which waits for it)."""
        nid = npc.net_id if isinstance(npc, Npc) else npc
        await self._send_text(self.mirror.talk(nid, text), timeout)

    async def ask(
        self,
        npc: int | Npc,
        text: str,
        timeout: float = 30.0,
        *,
        on_part: Callable[[NpcSaidPart], object] | None = None,
    ) -> NpcSaid:
        """Talk to an NPC you can see and return its whole reply; its `actions` name what the
        NPC did with it (e.g. `follow_player`; SPEC.md §4.3). `on_part` is called with
        every streamed piece before it (to show the line as it is generated). Raises
        ClientError when the NPC is not in view, TimeoutError after `timeout` seconds."""
        nid = npc.net_id if isinstance(npc, Npc) else npc

        def answer(ev: ClientEvent) -> bool:
            if isinstance(ev, ErrorReceived):
                return ev.name == "UNKNOWN_ENTITY"
            return isinstance(ev, NpcSaid) and ev.npc == nid and ev.to == self.net_id

        def part(ev: NpcSaidPart) -> None:
            if on_part is not None and ev.npc == nid and ev.to == self.net_id:
                on_part(ev)

        off = self.on(NpcSaidPart, part)
        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        entry = (answer, fut)
        self._waiters.append(entry)  # before sending: the reply can come back at once
        try:
            await self.talk(nid, text, timeout)
            ev = await asyncio.wait_for(fut, timeout)
        finally:
            off()
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        if isinstance(ev, ErrorReceived):
            raise ClientError(f"cannot talk to {nid}: {ev.message}")
        assert isinstance(ev, NpcSaid)
        return ev

    async def send_custom(
        self, type_: str, data: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> None:
        """Send a game mode's message (`{"op":"custom","type":type_,"data":data}`). Its
        answers arrive as `CustomReceived` events; an unknown type as an `ErrorReceived`
        named UNKNOWN_TYPE, a failing handler as HANDLER_FAILED."""
        await self._send_text(self.mirror.custom(type_, data), timeout)

    async def wait_custom(self, type_: str, timeout: float = 10.0) -> CustomReceived:
        """The next `custom` message of this type from the server."""
        ev = await self.wait_for(
            lambda e: isinstance(e, CustomReceived) and e.type == type_, timeout
        )
        assert isinstance(ev, CustomReceived)
        return ev

    # --- factions and companions (SPEC §4.2): each call waits for its answer ----------------
    # A refusal raises RequestRefusedError (`reason`: rank, limit, forbidden, ...). The server
    # handles one request of each kind per player at a time, so the next refusal is this one's.

    async def create_faction(
        self, name: str, display_name: str | None = None, timeout: float = 10.0
    ) -> FactionUpdate:
        """Create faction `name` (needs `create:faction` in your token) and lead it."""
        data = self.mirror.faction("create", name=name, display_name=display_name)
        return await self._request(data, FactionUpdate, _change("created"), timeout)

    async def join_faction(self, name: str, timeout: float = 10.0) -> FactionUpdate:
        """Join faction `name` as a recruit."""
        data = self.mirror.faction("join", name=name)
        return await self._request(data, FactionUpdate, _change("joined"), timeout)

    async def leave_faction(self, timeout: float = 10.0) -> FactionUpdate:
        data = self.mirror.faction("leave")
        return await self._request(data, FactionUpdate, _change("left"), timeout)

    async def promote(self, player_id: str, timeout: float = 10.0) -> FactionMember:
        """Promote a member of your faction one rank (officers and the leader)."""
        data = self.mirror.faction("promote", player=player_id)
        return await self._request(data, FactionMember, _member("promoted", player_id), timeout)

    async def kick_member(self, player_id: str, timeout: float = 10.0) -> FactionMember:
        """Remove a member ranked below you from your faction."""
        data = self.mirror.faction("kick", player=player_id)
        return await self._request(data, FactionMember, _member("kicked", player_id), timeout)

    async def faction_info(self, name: str | None = None, timeout: float = 10.0) -> FactionInfo:
        """A faction's members, relationships and news (default: your own faction)."""
        data = self.mirror.faction("info", name=name)
        return await self._request(data, FactionInfo, _any, timeout)

    async def summon_companion(
        self,
        companion_id: str | None = None,
        *,
        name: str | None = None,
        kind: str | None = None,
        timeout: float = 10.0,
    ) -> CompanionUpdate:
        """Bring a companion beside you; with `name` (and `kind`), a new one. Its NPC follows
        you (`net_id`); `talk` to it like to any NPC."""
        data = self.mirror.companion("summon", companion_id=companion_id, name=name, kind=kind)
        return await self._request(data, CompanionUpdate, _change("summoned", "recalled"), timeout)

    async def dismiss_companion(
        self, companion_id: str | None = None, timeout: float = 10.0
    ) -> CompanionUpdate:
        data = self.mirror.companion("dismiss", companion_id=companion_id)
        return await self._request(data, CompanionUpdate, _change("dismissed"), timeout)

    async def recall_companion(
        self, companion_id: str | None = None, timeout: float = 10.0
    ) -> CompanionUpdate:
        data = self.mirror.companion("recall", companion_id=companion_id)
        return await self._request(data, CompanionUpdate, _change("recalled", "summoned"), timeout)

    async def companion_info(self, timeout: float = 10.0) -> CompanionInfo:
        data = self.mirror.companion("info")
        return await self._request(data, CompanionInfo, _any, timeout)

    async def _request(
        self,
        data: bytes,
        kind: type[S],
        answer: Callable[[S], bool],
        timeout: float,
    ) -> S:
        refused = (
            "COMPANION_REFUSED" if kind in (CompanionUpdate, CompanionInfo) else "FACTION_REFUSED"
        )

        def done(ev: ClientEvent) -> bool:
            if isinstance(ev, ErrorReceived):
                return ev.name in (refused, "BAD_FIELD")
            return isinstance(ev, kind) and answer(ev)

        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        entry = (done, fut)
        self._waiters.append(entry)  # before sending: the answer can come back at once
        try:
            await self._send_text(data, timeout)
            ev = await asyncio.wait_for(fut, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        if isinstance(ev, ErrorReceived):
            reason = ev.message.split(":", 1)[0] if ev.name == refused else "bad_field"
            raise RequestRefusedError(ev.name, reason, ev.message)
        assert isinstance(ev, kind)
        return ev

    async def who(self, ids: Sequence[int], timeout: float = 10.0) -> list[dict[str, object]]:
        """Who these entities in view are: a dict per entity (`id`, `kind`, `name`, and for
        NPCs `role` and `faction`); ids not in view are left out."""
        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        entry = (lambda ev: isinstance(ev, WhoReceived), fut)
        self._waiters.append(entry)
        try:
            await self._send_text(self.mirror.who(list(ids)), timeout)
            ev = await asyncio.wait_for(fut, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        assert isinstance(ev, WhoReceived)
        return ev.entities

    # --- missions (SPEC §4.2 `mission`) ---------------------------------------------------------

    async def request_mission(
        self, npc: int | Npc, theme: str | None = None, timeout: float = 30.0
    ) -> MissionInfo:
        """Ask an NPC in view for work; returns the offered mission. `theme` hints at the kind
        of job ("a delivery"). Raises MissionRefusedError (e.g. `too_many_offers`)."""
        nid = npc.net_id if isinstance(npc, Npc) else npc
        ev = await self._mission_call(
            self.mirror.mission("request", npc=nid, theme=theme),
            lambda e: isinstance(e, MissionOffered) and e.mission.giver_npc == nid,
            timeout,
        )
        return ev.mission

    async def accept_mission(self, mission_id: str, timeout: float = 10.0) -> MissionInfo:
        """Accept an offered mission; the server then checks its objectives in the world."""
        ev = await self._mission_call(
            self.mirror.mission("accept", mission_id),
            lambda e: isinstance(e, MissionAccepted) and e.mission.id == mission_id,
            timeout,
        )
        return ev.mission

    async def complete_mission(self, mission_id: str, timeout: float = 10.0) -> MissionInfo:
        """Claim a mission's completion; returns it completed (`paid`, `balance`,
        `relations`). The server verifies the objectives itself (and completes a mission on
        its own once they are done: claiming it again is answered with `repeated` True and
        nothing paid twice). Raises MissionRefusedError `incomplete` before that."""
        ev = await self._mission_call(
            self.mirror.mission("complete", mission_id),
            lambda e: isinstance(e, MissionCompleted) and e.mission.id == mission_id,
            timeout,
        )
        return ev.mission

    async def abandon_mission(self, mission_id: str, timeout: float = 10.0) -> MissionInfo:
        """Give up a mission (offered or accepted): it fails."""
        ev = await self._mission_call(
            self.mirror.mission("abandon", mission_id),
            lambda e: isinstance(e, MissionFailed) and e.mission.id == mission_id,
            timeout,
        )
        return ev.mission

    async def missions(self, timeout: float = 10.0) -> list[MissionInfo]:
        """This player's recent missions, newest first, as the server has them."""
        async with self._mission_turn():
            ev = await self._await_answer(
                self.mirror.mission("list"), lambda e: isinstance(e, MissionsListed), timeout
            )
        assert isinstance(ev, MissionsListed)
        return list(ev.missions)

    async def wait_mission(
        self, mission_id: str, status: str = "completed", timeout: float = 60.0
    ) -> MissionInfo:
        """Return once the mission has `status` (at once if it has it already)."""
        await self.wait_until(
            lambda: (m := self.known_missions.get(mission_id)) is not None and m.status == status,
            timeout,
        )
        return self.known_missions[mission_id]

    @contextlib.asynccontextmanager
    async def _mission_turn(self) -> AsyncIterator[None]:
        # One mission request at a time: a refusal (`error` 15) names no request, so it
        # belongs to the only one waiting.
        if self._mission_lock is None:
            self._mission_lock = asyncio.Lock()
        async with self._mission_lock:
            yield

    async def _mission_call(
        self, data: bytes, answer: Callable[[ClientEvent], bool], timeout: float
    ) -> MissionEvent:
        async with self._mission_turn():
            ev = await self._await_answer(data, answer, timeout)
        assert isinstance(ev, MissionEvent)
        return ev

    async def _await_answer(
        self, data: bytes, answer: Callable[[ClientEvent], bool], timeout: float
    ) -> ClientEvent:
        def refused(ev: ClientEvent) -> bool:
            return isinstance(ev, ErrorReceived) and ev.name in (
                "MISSION_REFUSED",
                "UNKNOWN_ENTITY",
                "BAD_FIELD",
                "RATE_LIMITED",
            )

        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        entry = (lambda ev: answer(ev) or refused(ev), fut)
        self._waiters.append(entry)  # before sending: the answer can come back at once
        try:
            await self._send_text(data, timeout)
            ev = await asyncio.wait_for(fut, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        if isinstance(ev, ErrorReceived):
            reason, _, _ = ev.message.partition(":")
            if ev.name != "MISSION_REFUSED":
                reason = ev.name.lower()
            raise MissionRefusedError(reason, ev.message)
        return ev

    def _track_mission(self, ev: MissionSdkEvent) -> None:
        if isinstance(ev, MissionEvent):
            self.known_missions[ev.mission.id] = ev.mission
        elif isinstance(ev, MissionsListed):
            for m in ev.missions:
                self.known_missions[m.id] = m
        elif isinstance(ev, MissionProgressed):
            known = self.known_missions.get(ev.id)
            if known is not None:
                objectives = tuple(
                    dataclasses.replace(o, progress=p, done=d)
                    for o, (p, d) in zip(known.objectives, ev.objectives, strict=False)
                )
                self.known_missions[ev.id] = dataclasses.replace(known, objectives=objectives)
        elif isinstance(ev, MoneyChanged):
            self.money = ev.money

    async def ping(self, timeout: float = 5.0) -> float:
        """Round trip to the server and back through its message handling, in seconds."""
        pid, data = self.mirror.ping(time.time())
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pings[pid] = fut
        try:
            await self._send_text(data, timeout)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pings.pop(pid, None)

    # --- internals: sending -----------------------------------------------------------------

    def _flush_move(self) -> None:
        self._move_timer = None
        pending = self._pending_move
        ws = self._ws
        if pending is None or ws is None or not self.connected or ws.state is not State.OPEN:
            return  # sent by _attach after the next welcome
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._next_input_at:
            self._move_timer = loop.call_at(self._next_input_at, self._flush_move)
            return
        welcome = self.mirror.welcome
        limit = welcome.input_rate_limit if welcome is not None else 20
        self._next_input_at = now + 1.0 / max(1.0, limit * self.input_rate_share)
        self._pending_move = None
        data = self.mirror.input(*pending)
        try:
            broadcast([ws], data, raise_exceptions=True)
        except ExceptionGroup as eg:  # the socket is going away; the read loop will notice
            log.debug("input not sent: %s", eg.exceptions[0])
            self._pending_move = pending

    async def _send_text(self, data: bytes, timeout: float) -> None:
        if self.closed:
            raise self._closed_error()
        if not self.connected:
            await self._wait_ready(timeout)
        ws = self._ws
        assert ws is not None
        await ws.send(data, text=True)

    async def _wait_ready(self, timeout: float) -> None:
        ready = asyncio.ensure_future(self._ready.wait())
        done = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({ready, done}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            done.cancel()
        if self.closed:
            raise self._closed_error()
        if not self.connected:
            raise TimeoutError("not connected")

    # --- internals: connections -------------------------------------------------------------

    async def _open(self) -> tuple[ClientConnection, list[Event]]:
        """One connection attempt: socket, hello, welcome. Raises ClientClosedError with the
        server's close code if it refuses us, OSError/TimeoutError/InvalidHandshake otherwise."""
        ws = await ws_connect(
            self.url,
            compression=None,  # the server does not negotiate permessage-deflate
            proxy=None,
            open_timeout=self.open_timeout,
            max_size=1 << 22,
            max_queue=256,
            user_agent_header="ganggpt-client-sdk",
        )
        try:
            await ws.send(self.mirror.hello(), text=True)
            first = await asyncio.wait_for(ws.recv(), self.open_timeout)
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            reason = e.rcvd.reason if e.rcvd is not None else ""
            cls = FatalCloseError if close_action(code) is CloseAction.FATAL else ClientClosedError
            raise cls(
                f"server closed during handshake: {close_code_name(code)} {reason}".strip(),
                code,
                reason,
            ) from None
        except BaseException:
            await ws.close()
            raise
        events = self.mirror.receive(first, time.time())
        if not events or not isinstance(events[0], Welcomed):
            await ws.close()
            raise HandshakeError(f"expected welcome, got {events!r}"[:300])
        return ws, events

    def _attach(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ready.set()
        self._next_input_at = 0.0
        if self._pending_move is not None and self._move_timer is None:
            self._flush_move()

    async def _run(self, ws: ClientConnection) -> None:
        """Read frames until the socket closes; then reconnect, stop or fail by close code."""
        try:
            while True:
                await self._read(ws)
                self._ready.clear()
                self.mirror.connection_lost()
                code, reason = ws.close_code, ws.close_reason or ""
                if self._closing:
                    self._finish(code, reason, None)
                    return
                action = close_action(code)
                name = close_code_name(code)
                if action is CloseAction.FATAL:
                    self._dispatch([Disconnected(code, name, reason, False)])
                    self._finish(
                        code,
                        reason,
                        FatalCloseError(
                            f"server closed the connection: {name} {reason}".strip(), code, reason
                        ),
                    )
                    return
                if action is CloseAction.STOP or not self.reconnect:
                    self._dispatch([Disconnected(code, name, reason, False)])
                    err = (
                        None
                        if action is CloseAction.STOP
                        else ClientClosedError(f"connection closed: {name}", code, reason)
                    )
                    self._finish(code, reason, err)
                    return
                self._dispatch([Disconnected(code, name, reason, True)])
                got = await self._reconnect(code, reason)
                if got is None:
                    return
                ws = got
        except asyncio.CancelledError:
            if not self.closed:
                self._finish(None, "cancelled", None)
            raise
        except Exception as e:  # a bug here must end the client visibly, not hang it
            log.exception("client_sdk: read loop failed")
            self._finish(None, repr(e), ClientClosedError(f"client failed: {e!r}"))

    async def _read(self, ws: ClientConnection) -> None:
        mirror = self.mirror
        try:
            async for msg in ws:
                self._dispatch(mirror.receive(msg, time.time()))
        except ConnectionClosed:
            pass

    def _retry_window(self) -> float:
        if self.reconnect_for is not None:
            return self.reconnect_for
        if self._resume_window is not None:
            return self._resume_window
        welcome = self.mirror.welcome
        return welcome.resume_window if welcome is not None else DEFAULT_RESUME_WINDOW

    async def _reconnect(self, code: int | None, reason: str) -> ClientConnection | None:
        """Capped exponential backoff with jitter, for as long as the server keeps the player
        (its resume window; `reconnect_for`), or `max_attempts` tries if that is set. A
        `reconnect` message's `after_ms` sets the first wait (the server spreads its clients
        that way). Giving up earlier would drop a player the server still holds."""
        loop = asyncio.get_running_loop()
        window = self._retry_window()
        self._resume_window = None
        deadline = loop.time() + window
        delay = self._resume_after
        self._resume_after = None
        if delay is None and code == CloseCode.SERVICE_RESTART:
            delay = random.uniform(1.0, 2.0)  # a drain without a `reconnect` notice (SPEC 13)
        last: BaseException | None = None
        attempt = 0
        while self.max_attempts is None or attempt < self.max_attempts:
            attempt += 1
            if delay is None:
                cap = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 30))
                delay = random.uniform(0.5 * cap, cap)
            # The last try lands at the end of the window rather than after it.
            await asyncio.sleep(max(0.0, min(delay, deadline - loop.time())))
            delay = None
            if self._closing:
                self._finish(code, reason, None)
                return None
            try:
                ws, events = await self._open()
            except FatalCloseError as e:
                self._finish(e.code, e.reason, e)
                return None
            except (
                OSError,
                TimeoutError,
                InvalidHandshake,
                ClientClosedError,
                HandshakeError,
            ) as e:
                last = e
                log.debug("client_sdk: reconnect attempt %d failed: %r", attempt, e)
                if loop.time() >= deadline:
                    break
                continue
            except InvalidURI as e:
                self._finish(None, str(e), ClientClosedError(f"bad URL: {e}"))
                return None
            self.reconnects += 1
            self._attach(ws)
            self._dispatch(events)
            welcome = self.mirror.welcome
            assert welcome is not None
            self._dispatch([Reconnected(attempt, welcome.resumed, welcome)])
            return ws
        err = ReconnectFailedError(
            f"gave up after {attempt} reconnect attempts in {window - (deadline - loop.time()):.1f} s"
            f" (retrying for up to {window:g} s; last: {last!r})",
            code,
            reason,
        )
        self._finish(code, reason, err)
        return None

    # --- internals: dispatch ----------------------------------------------------------------

    def _dispatch(self, events: Sequence[ClientEvent]) -> None:
        if any(isinstance(ev, GameEventReceived) for ev in events):
            events = self._with_typed(events)
        for ev in events:
            if isinstance(ev, PongReceived):
                fut = self._pings.get(ev.id)
                if fut is not None and not fut.done() and ev.rtt is not None:
                    fut.set_result(ev.rtt)
            elif isinstance(ev, ReconnectRequested):
                self._resume_after = max(0.0, ev.after_ms / 1000.0)
                self._resume_window = ev.resume_window
            for q in self._queues:
                if q.qsize() >= self.event_queue_size:
                    q.get_nowait()
                    self.events_dropped += 1
                q.put_nowait(ev)
            for etype, fn in list(self._callbacks):
                if isinstance(ev, etype):
                    self._call(fn, ev)
            if self._waiters:
                for pred, wfut in list(self._waiters):
                    if wfut.done():
                        continue
                    try:
                        hit = pred(ev)
                    except Exception as e:
                        wfut.set_exception(e)
                        continue
                    if hit:
                        wfut.set_result(ev)

    def _with_typed(self, events: Sequence[ClientEvent]) -> list[ClientEvent]:
        """Each raw `event` followed by its typed form (missions and money, with this client's
        state updated; factions and companions, client_sdk.social)."""
        out: list[ClientEvent] = []
        for ev in events:
            out.append(ev)
            if isinstance(ev, GameEventReceived):
                mission = mission_event(ev)
                if mission is not None:
                    self._track_mission(mission)
                    out.append(mission)
                social = social_event(ev)
                if social is not None:
                    out.append(social)
        return out

    def _call(self, fn: Callable[[Any], object], ev: ClientEvent) -> None:
        try:
            res = fn(ev)
        except Exception:
            log.exception("client_sdk: callback %r failed", fn)
            return
        if inspect.isawaitable(res):
            task = asyncio.ensure_future(res)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _finish(self, code: int | None, reason: str, error: ClientClosedError | None) -> None:
        if self.closed:
            return
        self._ready.clear()
        self.error = error
        if self._move_timer is not None:
            self._move_timer.cancel()
            self._move_timer = None
        self._dispatch([Closed(code, close_code_name(code), reason, str(error) if error else None)])
        self._done.set()
        exc = self._closed_error()
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(exc)
        for pfut in self._pings.values():
            if not pfut.done():
                pfut.set_exception(exc)

    def _closed_error(self) -> ClientClosedError:
        return self.error or ClientClosedError("client is closed")


# --- connect ----------------------------------------------------------------------------------


def _change(*changes: str) -> Callable[[FactionUpdate | CompanionUpdate], bool]:
    return lambda ev: ev.change in changes


def _member(change: str, player_id: str) -> Callable[[FactionMember], bool]:
    return lambda ev: ev.change == change and ev.player_id == player_id


def _any(ev: object) -> bool:
    return True


class connect:
    """Open a client: `async with connect(url, name=...) as client:` (leaves on exit) or
    `client = await connect(url, name=...)` (call `await client.leave()` yourself).

    Keyword arguments beyond `name` and `token` go to `Client` (reconnect policy, timeouts).
    """

    def __init__(self, url: str, *, name: str, token: str | None = None, **options: Any) -> None:
        self.client = Client(url, name, token, **options)

    def __await__(self) -> Generator[Any, None, Client]:
        return self._start().__await__()

    async def _start(self) -> Client:
        await self.client.start()
        return self.client

    async def __aenter__(self) -> Client:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.leave()


__all__ = [
    "Client",
    "ClientClosedError",
    "ClientError",
    "ClientEvent",
    "Closed",
    "Disconnected",
    "FatalCloseError",
    "HandshakeError",
    "MissionRefusedError",
    "ReconnectFailedError",
    "Reconnected",
    "connect",
]
