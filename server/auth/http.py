"""The account endpoints on the game port: JSON in, JSON out, every rule in `AccountService`.

    POST /auth/register  {"username", "email", "password", "display_name"?}  -> 201 account
    POST /auth/login     {"username" or "email" (or "login"), "password"}      -> 200 tokens
    POST /auth/refresh   {"refresh_token"}                                      -> 200 tokens
    POST /auth/logout    {"refresh_token", "everywhere"?: bool}                 -> 200 {"sessions_ended"}
    GET  /auth/me        Authorization: Bearer <access token>                   -> 200 account

Tokens: `{"access_token", "token_type": "Bearer", "expires_in", "refresh_token", "sub",
"tier", "permissions", "sid"}`. The access token goes in the game's `hello.token`; the refresh
token rotates on every use (keep the newest; presenting a spent one ends the session).

Errors are `{"error": code, "message": ...}` with these statuses:
400 `bad_request` (not a JSON object, a field missing or of the wrong type) or `invalid`
(`field` and `reason` say which rule: username, display_name, email or password);
401 `bad_credentials` (one answer whether the account exists or not) or `token_refused`
(`reason`: expired, revoked, reused, ...; with `WWW-Authenticate: Bearer` on /auth/me);
403 `banned` (`until`: unix seconds, null for good; `reason`); 404 `not_found`;
405 `method_not_allowed` with `Allow`; 409 `taken` (`field`); 413 body over 8 KiB and
431 head too large (transport); 415 `unsupported_media_type` (a body that is not
application/json); 429 `throttled` with `Retry-After` (failed logins per account and per
address, registrations per address); 503 `busy` or `unavailable` with `Retry-After`
(password hashing queue full, database unreachable, accounts off).

Logout with an unknown or spent token answers 200 with `sessions_ended: 0`: the endpoint must
not tell which tokens exist (RFC 7009 does the same for revocation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from server.auth.accounts import StoreUnavailable
from server.auth.service import (
    AccountBanned,
    AccountService,
    AuthError,
    RegistrationRefused,
    Throttled,
    TokenPair,
    TokenRefused,
)
from server.auth.tokens import Rejected
from server.net.plain import PlainRequest, PlainResponse

log = logging.getLogger("ganggpt.auth")

FIELD_MAX = 1024  # characters of any one string field (the service bounds each more tightly)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error(
    status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = (), **extra: Any
) -> PlainResponse:
    return PlainResponse.json(status, {"error": code, "message": message, **extra}, headers)


def _body(request: PlainRequest) -> dict[str, Any]:
    ctype = request.header("content-type").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise BadRequest("send the body as application/json", 415, "unsupported_media_type")
    try:
        data = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _str(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"`{name}` must be a non-empty string")
    if len(value) > FIELD_MAX:
        raise BadRequest(f"`{name}` is too long")
    return value


def _tokens(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "sub": pair.claims.sub,
        "tier": pair.claims.tier.value,
        "permissions": list(pair.claims.permissions),
        "sid": pair.claims.sid,
    }


async def register(service: AccountService, request: PlainRequest) -> PlainResponse:
    data = _body(request)
    account = await service.register(
        username=_str(data, "username"),
        email=_str(data, "email"),
        password=_str(data, "password"),
        display_name=_str(data, "display_name", required=False) or None,
        ip=request.client_ip,
    )
    return PlainResponse.json(
        201,
        {
            "id": account.id,
            "username": account.username,
            "display_name": account.display_name,
            "tier": account.tier.value,
            "role": account.role,
        },
    )


async def login(service: AccountService, request: PlainRequest) -> PlainResponse:
    data = _body(request)
    given = [n for n in ("login", "username", "email") if data.get(n) is not None]
    if len(given) != 1:
        raise BadRequest("give exactly one of `username`, `email` or `login`")
    pair = await service.login(
        {"login": _str(data, given[0]), "password": _str(data, "password")},
        ip=request.client_ip,
    )
    return PlainResponse.json(200, _tokens(pair))


async def refresh(service: AccountService, request: PlainRequest) -> PlainResponse:
    data = _body(request)
    pair = await service.refresh(_str(data, "refresh_token"))
    return PlainResponse.json(200, _tokens(pair))


async def logout(service: AccountService, request: PlainRequest) -> PlainResponse:
    data = _body(request)
    token = _str(data, "refresh_token")
    everywhere = data.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise BadRequest("`everywhere` must be true or false")
    if everywhere:
        ended = await service.logout_everywhere_with(token)
        return PlainResponse.json(200, {"sessions_ended": len(ended)})
    return PlainResponse.json(200, {"sessions_ended": int(await service.logout(token))})


async def me(service: AccountService, request: PlainRequest) -> PlainResponse:
    auth = request.header("authorization")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(
            401,
            "token_refused",
            "send the access token as `Authorization: Bearer <token>`",
            (("WWW-Authenticate", 'Bearer realm="ganggpt"'),),
            reason="missing",
        )
    got = await service.authenticate(token.strip())
    if isinstance(got, Rejected):
        return _error(
            401,
            "token_refused",
            f"token refused: {got.reason.value}",
            (("WWW-Authenticate", 'Bearer realm="ganggpt", error="invalid_token"'),),
            reason=got.reason.value,
        )
    account = await service.store.by_id(got.sub)
    if account is None:
        return _error(401, "token_refused", "token refused: revoked", reason="revoked")
    return PlainResponse.json(
        200,
        {
            "id": account.id,
            "username": account.username,
            "display_name": account.display_name,
            "email": await service.email_of(account),
            "role": account.role,
            "tier": account.tier.value,
            "permissions": list(got.permissions),
            "sid": got.sid,
            "expires_at": got.exp,
        },
    )


Endpoint = Callable[[AccountService, PlainRequest], Awaitable[PlainResponse]]
ENDPOINTS: dict[str, tuple[str, Endpoint]] = {
    "/auth/register": ("POST", register),
    "/auth/login": ("POST", login),
    "/auth/refresh": ("POST", refresh),
    "/auth/logout": ("POST", logout),
    "/auth/me": ("GET", me),
}


def _retry(seconds: float) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(max(1, math.ceil(seconds)))),)


def _refusal(err: AuthError) -> PlainResponse:
    if isinstance(err, Throttled):
        return _error(
            429,
            err.code,
            str(err),
            _retry(err.retry_after),
            retry_after=math.ceil(err.retry_after),
            scope=err.scope,
        )
    if isinstance(err, AccountBanned):
        until = None if math.isinf(err.until) else err.until
        return _error(403, err.code, str(err), until=until, reason=err.reason)
    if isinstance(err, RegistrationRefused):
        return _error(err.status, err.code, str(err), field=err.field, reason=err.reason)
    if isinstance(err, TokenRefused):
        return _error(401, err.code, str(err), reason=err.rejected.reason.value)
    if err.status == 503:
        return _error(503, err.code, str(err), _retry(1))
    return _error(err.status, err.code, str(err))


async def handle(service: AccountService | None, request: PlainRequest) -> PlainResponse:
    """Answer one request for a path under /auth."""
    found = ENDPOINTS.get(request.path)
    if found is None:
        return _error(404, "not_found", f"no endpoint {request.path[:64]}")
    method, endpoint = found
    if request.method != method:
        return _error(
            405,
            "method_not_allowed",
            f"{request.path} takes {method}",
            (("Allow", method),),
        )
    if service is None:
        return _error(503, "unavailable", "accounts are not enabled on this server", _retry(30))
    try:
        return await endpoint(service, request)
    except BadRequest as err:
        return _error(err.status, err.code, str(err))
    except AuthError as err:
        return _refusal(err)
    except StoreUnavailable:
        return _error(503, "unavailable", "account storage is unavailable", _retry(5))
