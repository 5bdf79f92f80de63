"""Joining and leaving: identity, capacity, replacement, resume, spawn, welcome.

The connection hands over a valid hello (`JoinService.begin`) and, when it closes, the player
(`JoinService.leave`); everything between is decided here.

- **Identity** comes from the `Authenticator`, the one place where token verification plugs
  in: a real server uses `server.game.identity.AccountAuthenticator` (the token's `sub`, or a
  guest when guest play is on); `GuestAuthenticator` (everyone a guest) is for servers built
  without accounts (tests driving the game directly). The hello's name is only a display name.
- **Which player**: an account's player is its row `players.id = sub`; a guest's is stored
  under `guest_storage_name(guest_id)`, a name no username can be (it has a space and is
  longer than USERNAME_MAX), so a guest never loads a registered player by typing its name.
  A resume token only resumes the player of the identity presenting it; another player's
  is put back untouched and the join goes on as a fresh one.
- **Capacity**: a seat is a playing player or a seat reserved for a resume (a player who
  dropped, for RESUME_WINDOW seconds). New players are refused with SERVER_FULL when
  playing + reserved seats reach MAX_PLAYERS; a player returning to its own reserved seat
  (by resume token or by name) is not.
- **Resume**: a resume token is good once, and only after its owner's connection is gone.
  Presented while the owner is still connected, it is refused with RESUME_REFUSED and the
  owner plays on. Every welcome carries a new token.
- **Replacement**: the same identity joining again (an account on a second connection, a
  guest under the same name) replaces the connected player (the old connection is closed
  with REPLACED, and its token dies with it).
- **Display names** are claimed by the authenticator and released exactly once: when the
  player leaves, or when a verified join does not end in the world.

Cancellation: the join task is cancelled when its connection is lost, at whatever await it
is. `state.joining` is released exactly once (a ticket, also released by the task's done
callback, so a task cancelled before it ever ran releases it too), and a resume session
already taken from storage is put back, so the token is not lost with the connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from protocol import control
from protocol.catalogue import PROTOCOL_VERSION, CloseCode
from server.game.events import PlayerJoined, PlayerLeft
from server.game.player import Client, Identity, Player
from server.limits import welcome_limits
from server.persistence.api import PlayerRecord, PlayerSnapshot, ResumeSession
from server.state import ServerState

if TYPE_CHECKING:
    from server.game.core import Game

log = logging.getLogger("ganggpt.join")


class AuthError(Exception):
    """The hello was refused: the connection is closed with `code` (AUTH_FAILED for a token,
    BAD_HELLO for a display name); `reason` labels the refusal metric."""

    def __init__(
        self, message: str, *, code: CloseCode = CloseCode.AUTH_FAILED, reason: str = "auth"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class Authenticator(Protocol):
    """Turns a hello into an identity, or raises `AuthError`."""

    async def verify(self, hello: control.Hello) -> Identity: ...

    def admit(self, identity: Identity) -> bool:
        """Whether the verified identity may still take its seat (called synchronously just
        before seating): False if what proved it (a login session) ended meanwhile."""
        ...

    def release(self, identity: Identity) -> None:
        """The identity's player left (or never got in): give its display name back."""
        ...


GUEST_PREFIX = "guest "


def guest_storage_name(guest_id: str) -> str:
    """The players row name of a guest: never a username (those have no spaces and at most
    USERNAME_MAX characters), so guests and accounts cannot share a row."""
    return GUEST_PREFIX + guest_id


class GuestAuthenticator:
    """Everyone is a guest, known by the name in the hello; `hello.token` is not read. Only
    for servers without accounts (tests of the game layer); `start_server` never uses it."""

    async def verify(self, hello: control.Hello) -> Identity:
        return Identity(
            name=hello.name, guest_id=str(uuid.uuid5(uuid.NAMESPACE_OID, hello.name.casefold()))
        )

    def admit(self, identity: Identity) -> bool:
        return True

    def release(self, identity: Identity) -> None:
        return None


class _Ticket:
    """One join in flight, counted in `state.joining` until released (exactly once)."""

    __slots__ = ("released", "state")

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.released = False
        state.joining += 1

    def release(self, _task: object = None) -> None:
        if not self.released:
            self.released = True
            self.state.joining -= 1


class JoinService:
    def __init__(self, state: ServerState, game: Game, authenticator: Authenticator) -> None:
        self.state = state
        self.game = game
        self.authenticator = authenticator
        self._tasks: set[asyncio.Task[None]] = set()  # storage writes started by leave()

    # --- joining ---

    def begin(self, client: Client, hello: control.Hello) -> asyncio.Task[None] | None:
        """Start joining; returns the task (the connection cancels it if it is lost), or
        None if the hello was refused at once (the client is then closing)."""
        st = self.state
        cfg = st.config
        if st.draining:
            client.close(CloseCode.SERVICE_RESTART, "server is restarting; try again shortly")
            return None
        # Reserved seats are checked once the player is known (`_place`): a player may be
        # coming back to its own. A spectator takes no seat (and is refused at verify unless
        # it is an administrator).
        if not hello.spectate and st.player_count + st.joining >= cfg.max_players:
            self._full(client)
            return None
        ticket = _Ticket(st)
        task = asyncio.get_running_loop().create_task(self._join(client, hello, ticket))
        task.add_done_callback(ticket.release)
        return task

    def _full(self, client: Client) -> None:
        self.state.metrics.connections_refused.labels(reason="full").inc()
        client.close(
            CloseCode.SERVER_FULL, f"server full ({self.state.config.max_players} players)"
        )

    async def _join(self, client: Client, hello: control.Hello, ticket: _Ticket) -> None:
        st = self.state
        try:
            identity = await self.authenticator.verify(hello)
        except AuthError as e:
            ticket.release()
            st.metrics.connections_refused.labels(reason=e.reason).inc()
            client.close(e.code, str(e) or "token refused")
            return
        except Exception:
            ticket.release()
            log.exception("could not check the hello of %s", client.peer)
            client.close(CloseCode.INTERNAL_ERROR, "could not check the credentials; retry")
            return
        if hello.spectate:
            ticket.release()
            if identity.guest or not identity.grants.has("admin:commands"):
                # An authenticator that does not check spectators (GuestAuthenticator).
                st.metrics.connections_refused.labels(reason="auth").inc()
                client.close(CloseCode.AUTH_FAILED, "token refused: forbidden")
                return
            self._spectate(client, identity)
            return
        player: Player | None = None
        try:
            player = await self._load_and_place(client, hello, identity, ticket)
        finally:
            # No player took the identity: nobody else gives back the name verify() claimed
            # (a player that got in gives it back when it leaves).
            if player is None:
                self.authenticator.release(identity)
        if player is not None and player.active:
            # Without a position: if this server dies, a resume must restore the last
            # snapshot from the database, not the place where the player joined.
            await self.save_session(player, with_position=False)

    async def _load_and_place(
        self, client: Client, hello: control.Hello, identity: Identity, ticket: _Ticket
    ) -> Player | None:
        st = self.state
        session: ResumeSession | None = None
        try:
            if not client.verified():
                return None
            if hello.resume:
                session = await self._take_session(hello.resume)
            record = await self._load(identity)
        except asyncio.CancelledError:
            if session is not None:
                self._put_back(session)
            raise
        except Exception:
            log.exception("join failed for %s", client.peer)
            client.close(CloseCode.INTERNAL_ERROR, "could not load the player")
            return None
        finally:
            ticket.release()
        if client.closing or record is None:
            if session is not None:
                self._put_back(session)
            if record is None:
                log.error("account %s has no player row", identity.account_id)
                client.close(CloseCode.INTERNAL_ERROR, "could not load the player")
            return None
        if session is not None and session.player_id != record.player_id:
            # Another player's resume token (a guest under another name, another account):
            # it stays its owner's, and this identity joins as itself, not resumed.
            self._put_back(session)
            st.metrics.resume_ignored.inc()
            session = None
        return self._place(client, identity, record, session, hello.resume)

    async def _load(self, identity: Identity) -> PlayerRecord | None:
        """The identity's player: an account's row by id, a guest's by its guest name."""
        persistence = self.state.persistence
        if identity.account_id is not None:
            return await persistence.repos.players.get(identity.account_id)
        assert identity.guest_id is not None, "a guest identity has a guest_id"
        return await persistence.load_or_create_player(guest_storage_name(identity.guest_id))

    def _place(
        self,
        client: Client,
        identity: Identity,
        record: PlayerRecord,
        session: ResumeSession | None,
        resume: str | None = None,
    ) -> Player | None:
        """Put the loaded player in the world and welcome it. Synchronous: nothing can
        change between the checks and taking the seat. Returns None if the join was refused,
        the player if it got in (inactive if its client went away at that very moment)."""
        st = self.state
        cfg = st.config
        w = st.world
        if not self.authenticator.admit(identity):
            # The login session ended (logout, ban, a newer single session) while the player
            # was being loaded: close_sessions could not see a player not yet seated.
            if session is not None:
                self._put_back(session)
            st.metrics.connections_refused.labels(reason="auth").inc()
            client.close(CloseCode.AUTH_FAILED, "the login session ended while joining")
            return None
        pid = record.player_id
        old = st.players.get(pid)
        # The live player's own token counts even when its session is not in storage: a
        # concurrent hello with it may hold the session until it is put back, and this one
        # must not become a fresh join that replaces the owner.
        presented = session is not None or (
            resume is not None
            and old is not None
            and secrets.compare_digest(resume, old.resume_token)
        )
        if presented and old is not None and not old.client.closing:
            # The token's owner is still connected: the token is not good yet. It goes back
            # to storage (a crash of this server must not cost the owner its resume).
            if session is not None:
                self._put_back(session)
            st.metrics.connections_refused.labels(reason="session_active").inc()
            client.close(
                CloseCode.RESUME_REFUSED,
                "this resume token's player is still connected; it works once that "
                "connection is gone",
            )
            return None
        own_seat = old is not None or pid in st.reserved
        if not own_seat and st.player_count + len(st.reserved) >= cfg.max_players:
            self._full(client)
            return None
        if old is not None:
            # The same identity joined again: it takes the place; the old connection's
            # token dies with it (it must not resume what was taken over).
            self.leave(old, keep_for_resume=False)
            old.client.close(CloseCode.REPLACED, "this player connected again elsewhere")
        now = time.time()
        reserved = st.reserved.pop(pid, None)
        if reserved is not None and reserved[1] >= now:
            nid = reserved[0]
        else:
            if reserved is not None:
                w.net_ids.release(reserved[0], w.tick)
            nid = w.net_ids.allocate(w.tick)
        x, y, z, h = self._spawn_point(record, session)
        name = identity.name  # the display name: what the player is called, never who it is
        player = Player(
            pid,
            nid,
            name,
            client,
            w.players,
            identity=identity,
            money=record.money,
            armor=record.armor,
        )
        w.spawn_player(nid, name, x, y, z, h)
        w.players.health[nid] = max(0, min(255, record.health))
        slot = st.viewers.add(nid, client.send_state, nid % cfg.aoi_far_every, st.phase_of(nid))
        st.viewers.paused[slot] = client.paused
        player.active = True
        st.players[pid] = player
        if not client.bind(player, slot):
            self.leave(player, keep_for_resume=False)
            return player
        self.game.movement.start(player)
        player.resume_token = secrets.token_urlsafe(18)
        st.joined_since_gc += 1
        st.metrics.clients.set(st.player_count)
        client.send(
            control.Welcome(
                v=PROTOCOL_VERSION,
                player_id=pid,
                net_id=nid,
                name=name,
                server_name=cfg.server_name,
                tick_rate=cfg.tickrate,
                send_rate=cfg.send_rate,
                tick=w.tick,
                server_time=now,
                world=w.bounds.as_dict(),
                aoi_radius=cfg.aoi_radius,
                aoi_cell_size=cfg.aoi_cell_size,
                resume_token=player.resume_token,
                resume_window=cfg.resume_window,
                max_message_size=cfg.max_message_size,
                input_rate_limit=cfg.input_rate_limit,
                resumed=session is not None,
                x=x,
                y=y,
                z=z,
                heading=h,
                limits=welcome_limits(cfg),
                guest=identity.guest,
            )
        )
        log.info(
            "%s joined as %r (net id %d%s) from %s",
            pid,
            name,
            nid,
            ", resumed" if session else "",
            client.peer,
        )
        self.game.bus.publish(PlayerJoined(player, resumed=session is not None))
        return player

    def _spectate(self, client: Client, identity: Identity) -> None:
        """Welcome an administrator's camera (SPEC §3.8): a viewer slot and a net id for its
        view, no entity, no seat, no resume, no display name held. It starts above the middle
        of the NPC area; its INPUT moves it (`Movement.on_input`)."""
        st = self.state
        cfg = st.config
        w = st.world
        if not client.verified():
            return
        nid = w.net_ids.allocate(w.tick)
        x0, y0, x1, y1 = w.npcs.area
        x, y, z = (x0 + x1) / 2, (y0 + y1) / 2, 0.0
        player = Player(
            f"spectator:{identity.account_id}:{nid}",
            nid,
            identity.name,
            client,
            w.players,
            identity=identity,
        )
        player.spectator = True
        w.move_camera(nid, x, y, z, 0.0)
        slot = st.viewers.add(nid, client.send_state, nid % cfg.aoi_far_every, st.phase_of(nid))
        st.viewers.paused[slot] = client.paused
        player.active = True
        st.spectators[nid] = player
        if not client.bind(player, slot):
            self.leave(player, keep_for_resume=False)
            return
        st.metrics.spectators.set(len(st.spectators))
        client.send(
            control.Welcome(
                v=PROTOCOL_VERSION,
                player_id=player.player_id,
                net_id=nid,
                name=identity.name,
                server_name=cfg.server_name,
                tick_rate=cfg.tickrate,
                send_rate=cfg.send_rate,
                tick=w.tick,
                server_time=time.time(),
                world=w.bounds.as_dict(),
                aoi_radius=cfg.aoi_radius,
                aoi_cell_size=cfg.aoi_cell_size,
                resume_token="",
                resume_window=0.0,
                max_message_size=cfg.max_message_size,
                input_rate_limit=cfg.input_rate_limit,
                resumed=False,
                x=x,
                y=y,
                z=z,
                heading=0.0,
                limits=welcome_limits(cfg),
                guest=False,
                spectator=True,
            )
        )
        log.info("%s spectates (camera net id %d) from %s", identity.account_id, nid, client.peer)

    def _leave_spectator(self, player: Player) -> None:
        st = self.state
        w = st.world
        w.drop_camera(player.nid)
        client = player.client
        if client.slot >= 0:
            st.viewers.remove(client.slot)
            client.slot = -1
        st.spectators.pop(player.nid, None)
        w.net_ids.release(player.nid, w.tick)
        st.metrics.spectators.set(len(st.spectators))

    def _spawn_point(
        self, record: PlayerRecord, session: ResumeSession | None
    ) -> tuple[float, float, float, float]:
        w = self.state.world
        data: dict[str, Any] = session.data if session else {}
        if "x" in data and w.bounds.contains(data["x"], data["y"], data["z"]):
            return (
                float(data["x"]),
                float(data["y"]),
                float(data["z"]),
                float(data.get("heading", 0.0)),
            )
        if record.has_position and w.bounds.contains(record.x, record.y, record.z):
            return record.x, record.y, record.z, record.heading
        x0, y0, x1, y1 = w.npcs.area
        return random.uniform(x0, x1), random.uniform(y0, y1), 0.0, random.uniform(0, 360)

    # --- leaving ---

    def leave(self, player: Player, *, keep_for_resume: bool) -> None:
        """Take the player out of the world and out of every view. Its net id and seat are
        kept for a resume unless it said leave (or was replaced). Safe to call twice."""
        if not player.active:
            return
        player.active = False
        if player.spectator:
            self._leave_spectator(player)
            return
        st = self.state
        w = st.world
        st.persistence.submit_snapshots([self.snapshot(player)])
        w.despawn_player(player.nid)
        client = player.client
        if client.slot >= 0:
            st.viewers.remove(client.slot)
            client.slot = -1
        if st.players.get(player.player_id) is player:
            del st.players[player.player_id]
        keep = keep_for_resume and st.config.resume_window > 0
        if keep:
            st.reserved[player.player_id] = (player.nid, time.time() + st.config.resume_window)
            self._spawn(self.save_session(player))
        else:
            w.net_ids.release(player.nid, w.tick)
            if player.resume_token:  # the token stored at welcome must not resume a leaver
                self._spawn(self._forget_session(player, player.resume_token))
        self.authenticator.release(player.identity)
        st.metrics.clients.set(st.player_count)
        log.info("%s (%r, net id %d) left", player.player_id, player.name, player.nid)
        self.game.bus.publish(PlayerLeft(player, kept_for_resume=keep))

    # --- resume sessions ---

    def snapshot(self, player: Player) -> PlayerSnapshot:
        p = self.state.world.players
        n = player.nid
        return PlayerSnapshot(
            player_id=player.player_id,
            x=p.x.item(n),
            y=p.y.item(n),
            z=p.z.item(n),
            heading=p.heading.item(n),
            health=int(p.health[n]),
            armor=player.armor,
            money=player.money,
            taken_at=time.time(),
        )

    async def save_session(
        self, player: Player, token: str | None = None, *, with_position: bool = True
    ) -> None:
        """Store what the player's resume token unlocks, so a resume works on any instance.
        With the position (leaving, draining), a resume puts the player back exactly there."""
        data: dict[str, Any] = {"net_id": player.nid}
        if with_position:
            snap = self.snapshot(player)
            data.update(x=snap.x, y=snap.y, z=snap.z, heading=snap.heading)
        try:
            await self.state.persistence.save_session(
                ResumeSession(
                    token=token or player.resume_token,
                    player_id=player.player_id,
                    name=player.name,
                    expires_at=time.time() + self.state.config.resume_window,
                    data=data,
                )
            )
        except Exception:
            log.warning("could not store the resume session of %s", player.player_id, exc_info=True)

    async def _forget_session(self, player: Player, token: str) -> None:
        try:
            await self.state.persistence.take_session(token)
        except Exception:
            log.warning(
                "could not delete the resume session of %s", player.player_id, exc_info=True
            )

    async def _take_session(self, token: str) -> ResumeSession | None:
        """Take a resume session. If the join is cancelled meanwhile, the take still
        finishes (shielded) and what it took is put back: a lost connection must not cost
        the player its token."""
        take = asyncio.ensure_future(self.state.persistence.take_session(token))
        try:
            return await asyncio.shield(take)
        except asyncio.CancelledError:
            take.add_done_callback(self._put_back_taken)
            raise

    def _put_back_taken(self, take: asyncio.Future[ResumeSession | None]) -> None:
        if not take.cancelled() and take.exception() is None:
            session = take.result()
            if session is not None:
                self._put_back(session)

    def _put_back(self, session: ResumeSession) -> None:
        async def put_back() -> None:
            try:
                await self.state.persistence.save_session(session)
            except Exception:
                log.warning("could not put back the resume session of %s", session.player_id)

        self._spawn(put_back())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # a task nobody references may be collected before it ends
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the storage writes started by leaving players (used at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
