"""The session phase table (protocol/session.py) as a state machine, without sockets."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from protocol.session import ACCEPTS, TRANSITIONS, Accept, IllegalStep, Phase, Step, advance

GAME_PATH = [Step.UPGRADE_GAME, Step.HELLO, Step.VERIFIED, Step.WELCOMED]


class Session(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.phase = Phase.HTTP
        self.history: list[Step] = []

    @rule(step=st.sampled_from(list(Step)))
    def take(self, step: Step) -> None:
        before = self.phase
        try:
            self.phase = advance(self.phase, step)
        except IllegalStep:
            assert (before, step) not in TRANSITIONS
            return
        self.history.append(step)
        if before is Phase.CLOSED:
            assert self.phase is Phase.CLOSED  # nothing leaves CLOSED

    @precondition(lambda self: self.phase is not Phase.CLOSED)
    @rule()
    def lose_socket(self) -> None:
        self.phase = advance(self.phase, Step.LOST)
        self.history.append(Step.LOST)

    @invariant()
    def playing_only_after_hello_verify_welcome(self) -> None:
        if self.phase is Phase.PLAYING:
            assert self.history == GAME_PATH

    @invariant()
    def game_messages_only_while_playing(self) -> None:
        assert (ACCEPTS[self.phase] is Accept.GAME) == (self.phase is Phase.PLAYING)

    @invariant()
    def closing_and_closed_accept_nothing(self) -> None:
        if self.phase in (Phase.CLOSING, Phase.CLOSED):
            assert ACCEPTS[self.phase] is Accept.NOTHING

    @invariant()
    def admin_never_plays(self) -> None:
        if Step.UPGRADE_ADMIN in self.history:
            assert self.phase in (Phase.ADMIN_AUTH, Phase.ADMIN, Phase.CLOSING, Phase.CLOSED)


TestSession = Session.TestCase
TestSession.settings = settings(max_examples=200, stateful_step_count=20, deadline=None)


def test_every_phase_can_close_and_every_phase_is_reachable() -> None:
    reachable = {Phase.HTTP}
    frontier = [Phase.HTTP]
    while frontier:
        p = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is p and dst not in reachable:
                reachable.add(dst)
                frontier.append(dst)
    assert reachable == set(Phase)
    for p in Phase:
        assert advance(p, Step.LOST) is Phase.CLOSED
    assert set(ACCEPTS) == set(Phase)
