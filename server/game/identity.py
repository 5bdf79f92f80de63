"""Accounts at the join: `identify()` as the join service's `Authenticator`, and live
connections closed when their login session ends.

`wire_accounts(state)` (called once by `start_server`) installs both:
- `AccountAuthenticator`: a hello is identified by `server.auth.hello.identify` (the token's
  `sub`, or a guest when guest play is on). A refused token closes with 4004 AUTH_FAILED, a
  refused display name with the code identify gives (4003 BAD_HELLO), each counted in
  `ganggpt_connections_refused_total` by reason. The display name identify claimed is held
  once per join and released when the last player holding it leaves: the same account joining
  on a second connection replaces the first without losing its name to the first's leave.
- `AccountService.on_sessions_ended`: the players whose hello carried an ended session are
  closed (ban: 4011 KICKED; a newer login of a single-session account: 4010 REPLACED; logout
  or a refresh token used twice: 4004), never kept for resume. Always on the event loop: the
  service may end sessions from another thread (an admin tool), and connections are not
  thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
import time
from collections.abc import Sequence

from protocol import control
from protocol.catalogue import CloseCode
from server.auth.hello import Identity as AuthIdentity
from server.auth.hello import NameRejected, identify
from server.auth.service import AccountService
from server.auth.tokens import Rejected
from server.game.join import AuthError
from server.game.player import Identity
from server.state import ServerState

log = logging.getLogger("ganggpt.join")

# Why sessions ended (AccountService._ended) -> how their live connections close.
ENDED_CLOSE: dict[str, tuple[CloseCode, str]] = {
    "ban": (CloseCode.KICKED, "this account is banned"),
    "replaced": (CloseCode.REPLACED, "this account logged in elsewhere"),
    "logout": (CloseCode.AUTH_FAILED, "logged out"),
    "reuse": (CloseCode.AUTH_FAILED, "session ended: its refresh token was used twice"),
}
ENDED_DEFAULT = (CloseCode.AUTH_FAILED, "session ended")


def game_identity(who: AuthIdentity) -> Identity:
    return Identity(
        name=who.display_name,
        account_id=None if who.guest else who.sub,
        guest=who.guest,
        guest_id=who.sub if who.guest else None,
        tier=str(who.tier),
        permissions=frozenset(who.grants.granted),
        sid=who.sid,
        role=who.role,
    )


class AccountAuthenticator:
    """`server.game.join.Authenticator` over `identify()`."""

    def __init__(self, state: ServerState, accounts: AccountService) -> None:
        self.state = state
        self.accounts = accounts
        self._held: dict[str, int] = {}  # name owner -> joins holding its claim
        # Joins in flight, by when they started: those still identifying (by a counter), and
        # those verified but not yet seated (by id of their Identity, alive meanwhile).
        self._keys = itertools.count()
        self._identifying: dict[int, float] = {}
        self._joining: dict[int, float] = {}
        # Sessions that ended while a join was in flight -> when (loop clock); kept while a
        # join that started before that may still be seated with one of them.
        self._ended: dict[str, float] = {}

    async def verify(self, hello: control.Hello) -> Identity:
        key = next(self._keys)
        started = self._identifying[key] = time.monotonic()
        try:
            got = await identify(self.state, hello)
        finally:
            del self._identifying[key]
        if isinstance(got, Rejected):
            self._forget_ended()
            raise AuthError(f"token refused: {got.reason}", reason="auth")
        if isinstance(got, NameRejected):
            self._forget_ended()
            raise AuthError(got.message, code=CloseCode(got.close_code), reason="name")
        identity = game_identity(got)
        self._joining[id(identity)] = started  # no await since identify: nothing was missed
        if not hello.spectate:  # a spectator claimed no name (and is never released)
            self._held[identity.owner] = self._held.get(identity.owner, 0) + 1
        return identity

    def sessions_ended(self, sids: Sequence[str]) -> None:
        """Sessions ended: a join in flight that carries one must not be seated (`admit`)."""
        if self._identifying or self._joining:
            now = time.monotonic()
            for sid in sids:
                self._ended[sid] = now

    def admit(self, identity: Identity) -> bool:
        self._joining.pop(id(identity), None)
        ok = identity.sid is None or identity.sid not in self._ended
        self._forget_ended()
        return ok

    def _forget_ended(self) -> None:
        """Drop ended sessions no join in flight can carry: those that ended before the
        oldest join in flight started (every such join checked its session after that end,
        and was refused if it carried one)."""
        if not self._ended:
            return
        if not (self._identifying or self._joining):
            self._ended.clear()
            return
        oldest = min(
            min(self._identifying.values(), default=math.inf),
            min(self._joining.values(), default=math.inf),
        )
        for sid in [s for s, t in self._ended.items() if t < oldest]:
            del self._ended[sid]

    def release(self, identity: Identity) -> None:
        if self._joining.pop(id(identity), None) is not None:
            self._forget_ended()
        owner = identity.owner
        left = self._held.get(owner, 0) - 1
        if left > 0:
            self._held[owner] = left
            return
        self._held.pop(owner, None)
        self.accounts.names.release(owner)


def close_sessions(state: ServerState, account_id: str, sids: Sequence[str], reason: str) -> int:
    """Close the live players of these sessions, and keep joins in flight with one of them
    from being seated; returns how many players were closed (on the loop thread)."""
    auth = state.game.join.authenticator
    if isinstance(auth, AccountAuthenticator):
        auth.sessions_ended(sids)
    ended = set(sids)
    code, why = ENDED_CLOSE.get(reason, ENDED_DEFAULT)
    closed = 0
    for player in [*state.players.values(), *state.spectators.values()]:
        ident = player.identity
        if ident.account_id == account_id and ident.sid in ended:
            player.client.close(code, why, keep_for_resume=False)
            closed += 1
    if closed:
        log.info(
            "closed %d connection(s) of account %s: sessions ended (%s)", closed, account_id, reason
        )
    return closed


def wire_accounts(state: ServerState) -> None:
    """Identify hellos with the server's accounts and close connections whose session ends."""
    accounts = state.accounts
    assert accounts is not None, "wire_accounts needs state.accounts"
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    state.game.join.authenticator = AccountAuthenticator(state, accounts)

    def ended(account_id: str, sids: list[str], reason: str) -> None:
        if threading.get_ident() == loop_thread:
            close_sessions(state, account_id, sids, reason)
        else:
            loop.call_soon_threadsafe(close_sessions, state, account_id, list(sids), reason)

    accounts.on_sessions_ended = ended
