"""The join service: seats (issue 12 item 17), resume tokens (18), ghosts (21), cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from protocol import control
from protocol.catalogue import CloseCode
from protocol.state import PlayerEnter, decode_state
from server.app import Server
from server.persistence.api import PlayerRecord, ResumeSession
from server.persistence.memory import MemoryPersistence
from server.replication.snapshot import full_snapshot
from tests.server.conftest import Client, ServerFactory, open_client
from tests.server.game_fakes import FakeClient, make_state, place

pytestmark = pytest.mark.timeout(60)


async def eventually(cond: Any, timeout: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def drop(c: Client) -> None:
    """Lose the connection without a close frame (kept for resume)."""
    c.ws.transport.abort()


# --- item 17: reserved seats count against MAX_PLAYERS -------------------------------------


async def test_reserved_resume_seats_count_against_max_players(start: ServerFactory) -> None:
    srv: Server = await start(max_players=3)
    st = srv.state
    old = [await open_client(srv.url, f"old{i}") for i in range(3)]
    tokens = [c.mirror.resume_token for c in old]
    for c in old:
        drop(c)
    await eventually(lambda: not st.players and len(st.reserved) == 3, what="drops")
    newcomer = await open_client(srv.url, "newcomer", welcome=False)
    await newcomer.ws.send(newcomer.mirror.hello().decode())
    assert await newcomer.closed_code() == CloseCode.SERVER_FULL
    back = []
    for i, tok in enumerate(tokens):
        c = await open_client(srv.url, f"old{i}", resume=tok)
        assert c.mirror.welcome is not None and c.mirror.welcome.resumed
        back.append(c)
    assert st.player_count == 3 and not st.reserved
    for c in back:
        await c.ws.close()


async def test_a_player_returning_by_name_gets_its_own_reserved_seat(start: ServerFactory) -> None:
    srv: Server = await start(max_players=1)
    a = await open_client(srv.url, "solo")
    drop(a)
    await eventually(lambda: "solo" not in {p.name for p in srv.state.players.values()})
    again = await open_client(srv.url, "solo")  # no token: a guest is its name
    assert again.mirror.welcome is not None
    await again.ws.close()


# --- item 18: a resume token only after its owner is gone, once, a new one every time ------


async def test_resume_token_of_a_live_player_is_refused_and_the_owner_stays(
    start: ServerFactory,
) -> None:
    srv: Server = await start()
    st = srv.state
    owner = await open_client(srv.url, "owner")
    token = owner.mirror.resume_token
    # The same guest on a second connection: refused while the owner is connected.
    twin = await open_client(srv.url, "owner", resume=token, welcome=False)
    await twin.ws.send(twin.mirror.hello().decode())
    assert await twin.closed_code() == CloseCode.RESUME_REFUSED
    # Another guest: the token is not its to use; it joins as itself.
    thief = await open_client(srv.url, "thief", resume=token)
    assert thief.mirror.welcome is not None and not thief.mirror.welcome.resumed
    assert thief.mirror.player_id != owner.mirror.player_id
    await thief.ws.close()
    # The owner plays on: still in the game and still getting frames.
    assert owner.mirror.player_id in st.players
    n = len(owner.frames)
    await owner.until(lambda c: len(c.frames) > n + 2)
    # Once the owner is gone, the token works, once, and brings a new token.
    drop(owner)
    await eventually(lambda: owner.mirror.player_id in st.reserved, what="owner dropped")
    back = await open_client(srv.url, "owner", resume=token)
    assert back.mirror.welcome is not None and back.mirror.welcome.resumed
    assert back.mirror.resume_token != token
    assert back.mirror.player_id == owner.mirror.player_id
    again = await open_client(srv.url, "someone", resume=token)
    assert again.mirror.welcome is not None and not again.mirror.welcome.resumed
    assert again.mirror.player_id != owner.mirror.player_id
    assert back.mirror.player_id in st.players  # the replayed token took nothing over
    await back.ws.close()
    await again.ws.close()


async def test_a_live_players_token_is_refused_while_another_join_holds_its_session(
    start: ServerFactory,
) -> None:
    """Two hellos with the same token at once (a client's immediate reconnect racing another
    try): one takes the stored session, and until it is put back the other finds none. The
    owner is still connected, so the other is refused too, not taken for a fresh join of the
    same guest that would replace the owner."""
    srv: Server = await start()
    st = srv.state
    owner = await open_client(srv.url, "racer")
    token = owner.mirror.resume_token
    assert token is not None
    held = await st.persistence.take_session(token)  # what the concurrent join holds
    assert held is not None
    twin = await open_client(srv.url, "racer", resume=token, welcome=False)
    await twin.ws.send(twin.mirror.hello().decode())
    assert await twin.closed_code() == CloseCode.RESUME_REFUSED
    assert st.players[owner.mirror.player_id].client.closing is False
    n = len(owner.frames)
    await owner.until(lambda c: len(c.frames) > n + 2)
    await owner.ws.close()


async def test_a_replaced_connection_token_dies_with_it(start: ServerFactory) -> None:
    srv: Server = await start()
    first = await open_client(srv.url, "twin")
    token = first.mirror.resume_token
    second = await open_client(srv.url, "twin")  # guest by name: takes over
    assert await first.closed_code() == CloseCode.REPLACED
    third = await open_client(srv.url, "other", resume=token)
    assert third.mirror.welcome is not None and not third.mirror.welcome.resumed
    assert second.mirror.player_id in srv.state.players
    await second.ws.close()
    await third.ws.close()


# --- item 21: a player who quits right after joining leaves every view ----------------------


async def test_join_and_leave_between_two_ticks_leaves_no_ghost() -> None:
    st = make_state()
    w = st.world
    watcher, _ = place(st, "watcher", 0.0, 0.0)
    w.step()
    ghost, _ = place(st, "ghost", 3.0, 0.0)  # joins ...
    st.game.join.leave(ghost, keep_for_resume=False)  # ... and quits before the next tick
    w.step()
    cell = int(w.cell[watcher.nid])
    assert ghost.nid not in w.entities_in(w.grid.view_cells(cell))
    frame = decode_state(
        b"\x01" + b"\x00" * 17 + b"\x00\x00" + full_snapshot(w, cell) + b"\x00\x00"
    )
    players = [e for e in frame.enters if isinstance(e, PlayerEnter)]
    assert [e.id for e in players] == [watcher.nid]
    assert all(e.name for e in players)  # names are never empty on the wire


async def test_quitting_right_after_welcome_is_not_in_a_later_full_snapshot(
    start: ServerFactory,
) -> None:
    srv: Server = await start(npc_count=0, spawn_area_size=50.0)
    quitters = []
    for i in range(5):
        c = await open_client(srv.url, f"quit{i}")
        await c.ws.send(c.mirror.leave().decode())
        quitters.append(c.nid)
    await eventually(lambda: not srv.state.players, what="quitters gone")
    late = await open_client(srv.url, "late")
    await late.until(lambda c: c.mirror.last_seq > 0)
    seen = set(late.mirror.entities)
    assert seen == {late.nid}, f"ghosts: {seen - {late.nid}}"
    await late.ws.close()


# --- cancellation: a join cancelled at any await leaves nothing wrong -----------------------


class Gate(MemoryPersistence):
    """Memory persistence whose calls wait at a gate, so a test can cancel a join there."""

    def has_session(self, token: str) -> bool:
        return token in self.storage._sessions

    def __init__(self) -> None:
        super().__init__()
        self.waiting: asyncio.Event = asyncio.Event()
        self.release: asyncio.Event = asyncio.Event()
        self.gate_at: str = ""

    async def _gate(self, where: str) -> None:
        if self.gate_at == where:
            self.waiting.set()
            await self.release.wait()

    async def take_session(self, token: str) -> ResumeSession | None:
        s = await super().take_session(token)
        await self._gate("take_session")
        return s

    async def load_or_create_player(self, name: str) -> PlayerRecord:
        await self._gate("load_or_create_player")
        return await super().load_or_create_player(name)

    async def save_session(self, s: ResumeSession) -> None:
        await self._gate("save_session")
        await super().save_session(s)


@pytest.mark.parametrize("where", ["never_started", "take_session", "load_or_create_player"])
async def test_a_join_cancelled_at_any_await_leaves_no_count_or_seat(where: str) -> None:
    st = make_state()
    gate = Gate()
    st.persistence = gate
    await gate.save_session(ResumeSession("tok", "pid-1", "ana", 1e12, {}))
    gate.gate_at = where
    c = FakeClient()
    task = st.game.join.begin(c, control.Hello(v=1, name="ana", resume="tok"))
    assert task is not None and st.joining == 1
    if where != "never_started":
        await asyncio.wait_for(gate.waiting.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert st.joining == 0 and not st.players and not st.reserved and len(st.world.players) == 0
    gate.gate_at = ""
    gate.release.set()  # storage finishes what it was doing when the join was cancelled
    # The resume session taken before (or while) the join was cancelled is put back.
    await eventually(lambda: gate.has_session("tok"), 5, "the session put back")
    assert await gate.take_session("tok") is not None
    # And the next join goes through.
    c2 = FakeClient()
    t2 = st.game.join.begin(c2, control.Hello(v=1, name="bob"))
    assert t2 is not None
    await t2
    assert c2.player is not None and st.joining == 0 and st.player_count == 1


async def test_a_join_cancelled_while_storing_its_session_keeps_the_player_consistent() -> None:
    st = make_state()
    gate = Gate()
    st.persistence = gate
    gate.gate_at = "save_session"
    c = FakeClient()
    task = st.game.join.begin(c, control.Hello(v=1, name="ana"))
    assert task is not None
    await asyncio.wait_for(gate.waiting.wait(), 5)
    assert c.player is not None and st.player_count == 1 and st.joining == 0
    # What the connection does when it is lost: the player leaves, then the join is cancelled.
    st.game.join.leave(c.player, keep_for_resume=True)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.release.set()
    await st.game.join.settle()
    assert st.player_count == 0 and st.joining == 0 and list(st.reserved) == [c.player.player_id]
