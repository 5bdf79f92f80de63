"""Who a `hello` is: the one call the game's join service makes before it loads a player.

`identify(state, hello)`:
- with `hello.token`: `AccountService.authenticate` (signature, HS256 only, times, the
  session still live), then the account itself (gone or banned: refused). The identity is the
  token's `sub`, never `hello.name`, which only becomes the display name.
- without a token: a guest when guest play is on (`ALLOW_GUESTS`; never with ENV=production),
  else refused with `token_required`. A guest's id is a UUID (version 5) made from the
  normalised name, so the same name finds the same guest player and can never equal an
  account's id (version 4); `Identity.guest` marks it for the welcome.
- the principal must hold `play:game` (`forbidden` otherwise);
- the display name is normalised (no control, invisible or bidi characters) and claimed in
  `AccountService.names`: a look-alike of another live player's name is refused.
- a spectator's hello (`spectate`: an administrator's camera, SPEC §3.8) needs a token whose
  principal holds `admin:commands` (`forbidden` otherwise; no guest spectators). It claims no
  display name: a spectator is nobody in the world, so its owner may play beside it.

Refusals carry the close code: token problems are `Rejected` (4004 AUTH_FAILED, `reason` from
`tokens.Reason`), a refused name is `NameRejected` (4003 BAD_HELLO). The caller releases the
name when the player leaves: `state.accounts.names.release(identity.sub)`. A store that cannot
be reached raises (the caller closes with 1011 and the client retries).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from config.settings import Config
from protocol import control
from protocol.catalogue import CloseCode
from server.auth.names import NameRefused, normalize_display_name
from server.auth.permissions import Grants, Permission, Tier
from server.auth.service import AccountService
from server.auth.tokens import Reason, Rejected

# Guest ids: uuid5(GUEST_NAMESPACE, casefolded display name).
GUEST_NAMESPACE = uuid.UUID("6f0c3c52-4f55-4c55-9a4b-67616e676770")


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str  # the player id: the account id, or a guest's uuid5
    display_name: str  # normalised, claimed in AccountService.names
    guest: bool
    grants: Grants
    permissions: tuple[str, ...]  # as the token carried them (for the welcome and audit)
    tier: Tier
    sid: str | None  # login session (None for guests): its end closes this connection
    role: str | None = None  # the account's role when the join read it (None for guests)


@dataclass(frozen=True, slots=True)
class NameRejected:
    """The display name was refused; `reason` is `names.NameRefused.reason` (name_taken...)."""

    reason: str
    message: str

    @property
    def close_code(self) -> int:
        return int(CloseCode.BAD_HELLO)


Refusal = Rejected | NameRejected


class HasAccounts(Protocol):
    config: Config
    accounts: AccountService | None


def guest_id(display_name: str) -> str:
    return str(uuid.uuid5(GUEST_NAMESPACE, display_name.casefold()))


def _claim(service: AccountService, raw: str, owner: str) -> str | NameRejected:
    try:
        return service.names.claim(raw, owner)
    except NameRefused as err:
        return NameRejected(err.reason, str(err))


async def identify(state: HasAccounts, hello: control.Hello) -> Identity | Refusal:
    service = state.accounts
    if service is None:
        return Rejected(Reason.UNKNOWN, "accounts are not enabled on this server")
    if not hello.token:
        if hello.spectate:
            return Rejected(Reason.TOKEN_REQUIRED, "a spectator logs in first")
        return _guest(state, service, hello)
    got = await service.authenticate(hello.token)
    if isinstance(got, Rejected):
        return got
    account = await service.store.by_id(got.sub)
    if account is None:
        return Rejected(Reason.REVOKED, "no such account")
    if account.banned(service.now()):
        return Rejected(Reason.BANNED)
    grants = Grants.from_claims(got.permissions)
    if hello.spectate:
        if not grants.has(Permission.ADMIN_COMMANDS):
            return Rejected(Reason.FORBIDDEN, Permission.ADMIN_COMMANDS.value)
        return Identity(
            sub=got.sub,
            display_name=hello.name,
            guest=False,
            grants=grants,
            permissions=got.permissions,
            tier=got.tier,
            sid=got.sid,
            role=account.role,
        )
    if not grants.has(Permission.PLAY_GAME):
        return Rejected(Reason.FORBIDDEN, Permission.PLAY_GAME.value)
    name = _claim(service, hello.name or account.display_name, got.sub)
    if isinstance(name, NameRejected):
        return name
    return Identity(
        sub=got.sub,
        display_name=name,
        guest=False,
        grants=grants,
        permissions=got.permissions,
        tier=got.tier,
        sid=got.sid,
        role=account.role,
    )


def _guest(state: HasAccounts, service: AccountService, hello: control.Hello) -> Identity | Refusal:
    if not (state.config.guests_allowed and service.guests_allowed):
        return Rejected(Reason.TOKEN_REQUIRED, "this server needs an account: log in first")
    try:
        shown = normalize_display_name(hello.name)
    except NameRefused as err:
        return NameRejected(err.reason, str(err))
    sub = guest_id(shown)
    name = _claim(service, shown, sub)
    if isinstance(name, NameRejected):
        return name
    claims = service.guest()
    return Identity(
        sub=sub,
        display_name=name,
        guest=True,
        grants=Grants.from_claims(claims.permissions),
        permissions=claims.permissions,
        tier=claims.tier,
        sid=None,
    )
