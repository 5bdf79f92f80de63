"""Every game handler driven without sockets: a fake client, a real world and game."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from protocol import control
from protocol.catalogue import CloseCode, EntityKind, ErrorCode
from protocol.state import InputFrame
from server.game.events import ChatSaid, MoneyChanged, NpcTalked
from server.game.handlers import HANDLERS
from server.world.commands import Teleport
from tests.server.game_fakes import make_state, place


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def test_every_client_message_has_a_handler() -> None:
    kinds = set(control.ClientMessage.__args__)  # type: ignore[attr-defined]
    assert kinds == set(HANDLERS)


async def test_ping_is_answered_with_pong() -> None:
    st = make_state()
    p, c = place(st, "ana")
    st.game.dispatch(p, control.Ping(id=7, t=1.5))
    (pong,) = c.of(control.Pong)
    assert (pong.id, pong.t) == (7, 1.5) and abs(pong.server_time - time.time()) < 5


async def test_chat_reaches_players_who_see_the_speaker_only() -> None:
    st = make_state(spawn_area_size=2000.0)
    ana, ca = place(st, "ana", 0.0, 0.0)
    _bob, cb = place(st, "bob", 20.0, 0.0)
    _far, cf = place(st, "far", 1500.0, 1500.0)
    st.world.step()  # bins the new players into grid cells
    heard: list[ChatSaid] = []
    st.game.bus.subscribe(ChatSaid, heard.append)
    st.game.dispatch(ana, control.Chat(text="hi all"))
    for c in (ca, cb):
        (msg,) = c.of(control.ChatMessage)
        assert (msg.from_id, msg.name, msg.text) == (ana.nid, "ana", "hi all")
    assert not cf.of(control.ChatMessage)
    assert [e.text for e in heard] == ["hi all"]
    assert ca.raw[-1] is cb.raw[-1]  # encoded once for everyone


async def test_talk_to_a_visible_npc_gets_a_reply_and_an_event() -> None:
    st = make_state()
    w = st.world
    ana, c = place(st, "ana")
    w.step()
    npc = next(
        n
        for n in w.entities_in(w.grid.view_cells(int(w.cell[ana.nid])))
        if w.kind[n] == EntityKind.NPC
    )
    talked: list[NpcTalked] = []
    st.game.bus.subscribe(NpcTalked, talked.append)
    st.game.dispatch(ana, control.Talk(npc=npc, text="where is the bank?"))
    # The reply streams from a task off the tick: parts first, then the whole line.
    await until(lambda: bool(c.of(control.NpcSay)))
    (say,) = c.of(control.NpcSay)
    assert (say.npc, say.to) == (npc, ana.nid) and say.text and say.reply_id
    parts = c.of(control.NpcSayPart)
    assert parts and [p.seq for p in parts] == list(range(1, len(parts) + 1))
    assert {p.reply_id for p in parts} == {say.reply_id} and not say.replaced
    assert "".join(p.text for p in parts) == say.text
    assert talked[0].reply == say.text and talked[0].npc == npc
    await st.game.talks.stop()


async def test_talk_to_an_npc_out_of_view_or_a_non_npc_is_unknown_entity() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    st.world.step()
    st.game.dispatch(ana, control.Talk(npc=ana.nid, text="me?"))
    st.game.dispatch(ana, control.Talk(npc=60000, text="anyone?"))
    assert c.error_names == ["UNKNOWN_ENTITY", "UNKNOWN_ENTITY"]
    assert not c.of(control.NpcSay)


async def test_leave_closes_normally_without_resume() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    st.game.dispatch(ana, control.Leave())
    assert c.closed is not None and c.closed[0] is CloseCode.NORMAL and c.closed[2] is False


async def test_second_hello_is_already_welcomed() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    st.game.dispatch(ana, control.Hello(v=1, name="ana"))
    assert c.error_names == ["ALREADY_WELCOMED"] and c.closed is None


async def test_who_names_a_visible_player() -> None:
    st = make_state()
    ana, c = place(st, "ana", 0.0, 0.0)
    bob, _ = place(st, "bob", 5.0, 0.0)
    st.world.step()
    st.game.dispatch(ana, control.Who(ids=[bob.nid]))
    (reply,) = c.of(control.WhoReply)
    assert reply.entities[0]["name"] == "bob"


# --- movement -------------------------------------------------------------------------------


def _inp(seq: int, x: float, y: float, z: float = 0.0) -> InputFrame:
    return InputFrame(seq, 0, x, y, z, 90.0)


async def test_movement_accepts_a_walk_and_writes_the_world_arrays() -> None:
    st = make_state(player_max_speed=10.0)
    ana, c = place(st, "ana", 0.0, 0.0)
    st.game.movement.on_input(ana, _inp(1, 1.0, 1.0))
    p = st.world.players
    assert (p.x[ana.nid], p.y[ana.nid], p.heading[ana.nid]) == (1.0, 1.0, 90.0)
    assert st.inputs == 1 and not c.failures


async def test_movement_refuses_a_teleport_with_a_correct() -> None:
    st = make_state(player_max_speed=10.0)
    ana, c = place(st, "ana", 0.0, 0.0)
    st.game.movement.on_input(ana, _inp(3, 500.0, 0.0))
    assert c.error_names == ["IMPOSSIBLE_MOVE"] and c.failures[0][1] == 3
    (corr,) = c.of(control.Correct)
    assert (corr.x, corr.y, corr.ref) == (0.0, 0.0, 3)
    assert st.world.players.x[ana.nid] == 0.0 and st.inputs == 0


async def test_movement_refuses_out_of_bounds() -> None:
    st = make_state()
    ana, c = place(st, "ana", 0.0, 0.0)
    st.game.movement.on_input(ana, _inp(4, 0.0, 0.0, 1e6))
    assert c.error_names == ["OUT_OF_BOUNDS"] and c.of(control.Correct)[0].ref == 4


async def test_movement_is_judged_from_where_a_world_command_put_the_player() -> None:
    st = make_state(player_max_speed=10.0)
    ana, c = place(st, "ana", 0.0, 0.0)
    assert st.world.submit(Teleport(entity=ana.nid, x=900.0, y=0.0, z=0.0))
    st.world.step()
    st.game.teleported([ana.nid])  # what the tick does after applying a teleport
    assert c.of(control.Correct)[-1].x == 900.0
    st.game.movement.on_input(ana, _inp(5, 901.0, 0.0))
    assert not c.failures and st.world.players.x[ana.nid] == 901.0
    st.game.movement.on_input(ana, _inp(6, 2.0, 0.0))  # back where it was: a teleport now
    assert c.error_names == ["IMPOSSIBLE_MOVE"]


# --- money and custom messages --------------------------------------------------------------


async def test_change_money_updates_publishes_and_tells_the_player() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    seen: list[MoneyChanged] = []
    st.game.bus.subscribe(MoneyChanged, seen.append)
    assert st.game.change_money(ana, 250, "reward")
    assert not st.game.change_money(ana, -1000, "fine")  # would go below zero
    assert ana.money == 250 and [(e.old, e.new) for e in seen] == [(0, 250)]
    (ev,) = c.of(control.GameEvent)
    assert ev.type == "money" and ev.data == {"money": 250, "delta": 250, "reason": "reward"}


def _sample(st: Any, name: str, **labels: str) -> float:
    v = st.metrics.registry.get_sample_value(name, labels)
    return 0.0 if v is None else float(v)


async def test_custom_unknown_type_is_answered_and_budgeted() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    st.game.dispatch(ana, control.Custom(type="bank.rob", data={}))
    assert c.error_names == ["UNKNOWN_TYPE"]
    assert c.failures[0][0].error is ErrorCode.UNKNOWN_TYPE  # via fail(): counts as a bad message


async def test_custom_handler_that_raises_gets_handler_failed_and_a_metric() -> None:
    st = make_state()
    ana, c = place(st, "ana")
    _bob, cb = place(st, "bob")
    calls: list[dict[str, Any]] = []

    def boom(player: Any, data: dict[str, Any]) -> None:
        calls.append(data)
        raise RuntimeError("a bug in the game mode")

    st.game.modes.register("test.boom", boom, "tests")
    st.game.dispatch(ana, control.Custom(type="test.boom", data={"a": 1}))
    errors = c.of(control.Error)
    assert [e.name for e in errors] == ["HANDLER_FAILED"] and errors[0].code == 14
    assert "RuntimeError" not in errors[0].message and "bug" not in errors[0].message
    assert not c.failures  # the server's fault: not against the client's error budget
    assert calls == [{"a": 1}] and not cb.of(control.Error) and c.closed is None
    assert _sample(st, "ganggpt_game_handler_errors_total", handler="custom:test.boom") == 1
    assert _sample(st, "ganggpt_protocol_errors_total", code="HANDLER_FAILED") == 1


async def test_custom_handler_over_budget_is_counted() -> None:
    st = make_state(game_handler_budget_ms=1.0)
    ana, c = place(st, "ana")

    def slow(player: Any, data: dict[str, Any]) -> None:
        end = time.perf_counter() + 0.005
        while time.perf_counter() < end:
            pass
        player.client.send(control.CustomMessage(type="test.done", data={}))

    st.game.modes.register("test.slow", slow, "tests")
    st.game.dispatch(ana, control.Custom(type="test.slow", data={}))
    assert c.of(control.CustomMessage)[0].type == "test.done"
    assert _sample(st, "ganggpt_game_handler_overruns_total", handler="custom:test.slow") == 1


async def test_a_custom_type_is_registered_once_and_must_be_namespaced() -> None:
    st = make_state()
    st.game.modes.register("test.once", lambda p, d: None, "tests")
    with pytest.raises(ValueError):
        st.game.modes.register("test.once", lambda p, d: None, "tests")
    with pytest.raises(Exception, match="namespace"):
        st.game.modes.register("nodot", lambda p, d: None, "tests")
