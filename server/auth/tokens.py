"""Access tokens: short-lived JWTs signed with JWT_SECRET, HS256 only.

Claims are the seed's (`sub` player id, `email`, `tier`, `permissions`, `iat`, `exp`) plus
`jti` (unique id, for audit lines), `sid` (the login session it belongs to, so logout, a ban or
a newer single session make it useless at once, not only at `exp`), `iss` and `aud` (a token
for another service signed with a shared secret is not one of ours).

Verification pins the algorithm twice: the header must say HS256 before anything else is read,
and PyJWT is called with `algorithms=["HS256"]`. So `none`, RS256/ES256 (the "public key as
HMAC secret" confusion) and HS384/HS512 are refused. Every failure is a `Rejected` with a
`Reason`, never an exception; the caller closes the socket with `Rejected.close_code` (4004).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from protocol.catalogue import CloseCode
from server.auth.permissions import Tier

ALGORITHM = "HS256"
ISSUER = "ganggpt"
AUDIENCE = "ganggpt-game"
MAX_TOKEN_CHARS = 4096
MAX_PERMISSIONS = 64
REQUIRED = ("sub", "email", "tier", "permissions", "iat", "exp", "jti", "sid", "iss", "aud")


class Reason(StrEnum):
    """Why a token was refused; the value is safe to show to the client and to log."""

    MALFORMED = "malformed"
    BAD_ALG = "bad_alg"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    REVOKED = "revoked"
    REUSED = "reused"
    UNKNOWN = "unknown"
    BANNED = "banned"
    FORBIDDEN = "forbidden"  # a good token without the permission asked for (play:game)
    TOKEN_REQUIRED = "token_required"  # no token, and guest play is off


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str = ""
    sid: str | None = None  # the session a refresh-token refusal concerns, when known

    @property
    def close_code(self) -> int:
        return int(CloseCode.AUTH_FAILED)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    sub: str
    email: str
    tier: Tier
    permissions: tuple[str, ...]
    iat: int
    exp: int
    jti: str
    sid: str


_ERRORS: tuple[tuple[type[Exception], Reason], ...] = (
    (jwt.ExpiredSignatureError, Reason.EXPIRED),
    (jwt.ImmatureSignatureError, Reason.NOT_YET_VALID),
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Reason.BAD_ALG),
    (jwt.MissingRequiredClaimError, Reason.MISSING_CLAIM),
    (jwt.InvalidAudienceError, Reason.WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, Reason.WRONG_ISSUER),
    (jwt.InvalidIssuedAtError, Reason.BAD_CLAIM),
    (jwt.DecodeError, Reason.MALFORMED),
    (jwt.InvalidTokenError, Reason.MALFORMED),
)


def _claims(payload: dict[str, Any]) -> AccessClaims | Rejected:
    sub, email, tier = payload["sub"], payload["email"], payload["tier"]
    perms, jti, sid = payload["permissions"], payload["jti"], payload["sid"]
    iat, exp = payload["iat"], payload["exp"]
    if not (isinstance(sub, str) and 0 < len(sub) <= 64):
        return Rejected(Reason.BAD_CLAIM, "sub")
    if not (isinstance(email, str) and len(email) <= 320):
        return Rejected(Reason.BAD_CLAIM, "email")
    if tier not in {t.value for t in Tier}:
        return Rejected(Reason.BAD_CLAIM, "tier")
    if not (
        isinstance(perms, list)
        and len(perms) <= MAX_PERMISSIONS
        and all(isinstance(p, str) and len(p) <= 64 for p in perms)
    ):
        return Rejected(Reason.BAD_CLAIM, "permissions")
    for name, value in (("jti", jti), ("sid", sid)):
        if not (isinstance(value, str) and 0 < len(value) <= 64):
            return Rejected(Reason.BAD_CLAIM, name)
    for name, value in (("iat", iat), ("exp", exp)):
        if type(value) is not int:  # bool is an int subclass; floats are not ours either
            return Rejected(Reason.BAD_CLAIM, name)
    return AccessClaims(sub, email, Tier(tier), tuple(perms), iat, exp, jti, sid)


class AccessTokens:
    """Issues and verifies access tokens. `clock` returns Unix seconds (tests move it)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        ttl: int,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not key:
            raise ValueError("JWT_SECRET is empty")
        self._key = key
        self.ttl = ttl
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock

    def issue(
        self, *, sub: str, email: str, tier: Tier, permissions: list[str], sid: str
    ) -> tuple[str, AccessClaims]:
        now = int(self._clock())
        claims = AccessClaims(
            sub, email, tier, tuple(permissions), now, now + self.ttl, secrets.token_hex(8), sid
        )
        payload = {
            "sub": sub,
            "email": email,
            "tier": tier.value,
            "permissions": list(permissions),
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
            "sid": sid,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def verify(self, token: object) -> AccessClaims | Rejected:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return Rejected(Reason.MALFORMED, "not a token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return Rejected(Reason.MALFORMED, "header")
        if header.get("alg") != ALGORITHM:
            return Rejected(Reason.BAD_ALG, str(header.get("alg"))[:16])
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # Times are checked below against our clock (PyJWT reads the wall clock).
                options={
                    "require": list(REQUIRED),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except Exception as err:  # PyJWT raises many types; every one is a refusal
            for kind, reason in _ERRORS:
                if isinstance(err, kind):
                    return Rejected(reason)
            return Rejected(Reason.MALFORMED)
        return self._check_times(payload)

    def _check_times(self, payload: dict[str, Any]) -> AccessClaims | Rejected:
        got = _claims(payload)
        if isinstance(got, Rejected):
            return got
        now = self._clock()
        if got.exp <= now - self._leeway:
            return Rejected(Reason.EXPIRED)
        nbf = payload.get("nbf", got.iat)
        if type(nbf) is not int:
            return Rejected(Reason.BAD_CLAIM, "nbf")
        if max(got.iat, nbf) > now + self._leeway:
            return Rejected(Reason.NOT_YET_VALID)
        if got.exp - got.iat > self.ttl:
            # Longer than we ever issue: not made by this configuration.
            return Rejected(Reason.BAD_CLAIM, "lifetime")
        return got
