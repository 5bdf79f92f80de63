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
import logging
import threading
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

    async def verify(self, hello: control.Hello) -> Identity:
        got = await identify(self.state, hello)
        if isinstance(got, Rejected):
            raise AuthError(f"token refused: {got.reason}", reason="auth")
        if isinstance(got, NameRejected):
            raise AuthError(got.message, code=CloseCode(got.close_code), reason="name")
        identity = game_identity(got)
        if not hello.spectate:  # a spectator claimed no name (and is never released)
            self._held[identity.owner] = self._held.get(identity.owner, 0) + 1
        return identity

    def release(self, identity: Identity) -> None:
        owner = identity.owner
        left = self._held.get(owner, 0) - 1
        if left > 0:
            self._held[owner] = left
            return
        self._held.pop(owner, None)
        self.accounts.names.release(owner)


def close_sessions(state: ServerState, account_id: str, sids: Sequence[str], reason: str) -> int:
    """Close the live players of these sessions; returns how many (on the loop thread)."""
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
