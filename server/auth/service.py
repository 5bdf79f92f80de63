"""AccountService: register, log in, refresh, log out, ban; the one object the HTTP and
WebSocket layers call.

Errors are typed (`AuthError` subclasses, each with the HTTP status the endpoint answers) and
token checks return `Rejected` (close code 4004). When sessions end for any reason (logout,
ban, refresh-token reuse, a newer single session, the per-account limit), `on_sessions_ended`
is called with the account id, the session ids and the reason, so the game can close the live
sockets whose hello carried those `sid`s.

Login failure paths take as long as success: an unknown user costs a dummy bcrypt verify, and
the error is the same `InvalidCredentials` whether the user exists or not. Throttling is
checked before any hashing (a throttled attempt costs no CPU), counts failures per account
and per client address in sliding windows, and raises `Throttled` (HTTP 429, Retry-After).

`IdentityProvider` is the seam for logins that are not passwords (FiveM license, Discord id):
a provider turns credentials into an `Account`; everything after (bans, sessions, tokens) is
shared. `PasswordProvider` is the first one.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from config.settings import Config
from server.auth.accounts import Account, AccountExists, AccountStore
from server.auth.crypto import AesGcmFields, FieldProtector, PlainFields, fields_from_config
from server.auth.metrics import AuthMetrics
from server.auth.names import (
    NameRefused,
    NameRegistry,
    normalize_display_name,
    normalize_username,
)
from server.auth.passwords import (
    HasherBusy,
    PasswordHasher,
    PasswordRefused,
    check_password_policy,
)
from server.auth.permissions import Grants, Permission, RoleCatalogue, Tier
from server.auth.sessions import (
    RefreshTokenStore,
    Rotated,
    SessionLimit,
    SessionPolicy,
    Sessions,
    SingleSession,
    hash_refresh,
)
from server.auth.throttle import SlidingWindow
from server.auth.tokens import AccessClaims, AccessTokens, Reason, Rejected

log = logging.getLogger("ganggpt.auth")

EMAIL_MAX = 254
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class AuthError(Exception):
    """Base of the service's refusals. `code` is stable for clients; `status` is HTTP's."""

    status = 400
    code = "auth_error"


class InvalidCredentials(AuthError):
    status = 401
    code = "bad_credentials"

    def __init__(self) -> None:
        super().__init__("wrong username, email or password")


class Throttled(AuthError):
    status = 429
    code = "throttled"

    def __init__(self, retry_after: float, scope: str) -> None:
        super().__init__(f"too many failed logins; retry in {math.ceil(retry_after)} s")
        self.retry_after = retry_after
        self.scope = scope  # "account", "ip" or "register"


class AccountBanned(AuthError):
    status = 403
    code = "banned"

    def __init__(self, until: float, reason: str | None) -> None:
        forever = math.isinf(until)
        super().__init__("account is banned" + ("" if forever else " until a later time"))
        self.until = until
        self.reason = reason


class Busy(AuthError):
    status = 503
    code = "busy"


class RegistrationRefused(AuthError):
    """`field` is username, display_name, email or password; `reason` a stable code."""

    def __init__(self, field: str, reason: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.status = status
        self.code = "taken" if status == 409 else "invalid"


class TokenRefused(AuthError):
    status = 401
    code = "token_refused"

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(f"token refused: {rejected.reason}")
        self.rejected = rejected


class GuestsDisabled(AuthError):
    status = 403
    code = "guests_disabled"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    claims: AccessClaims
    closed_sessions: list[str]  # other sessions this login ended (SINGLE_SESSION, limit)


def normalize_email(raw: str) -> str:
    """Trimmed, domain lower-cased; raises RegistrationRefused if it is not an address."""
    email = raw.strip()
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise RegistrationRefused("email", "invalid", "not an email address")
    if any(unicodedata.category(ch)[0] == "C" for ch in email):
        raise RegistrationRefused("email", "invalid", "email has a control character")
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def email_key(email: str) -> str:
    """What uniqueness and lookup compare: the whole address case-folded."""
    return unicodedata.normalize("NFKC", email).casefold()


def email_purpose(account_id: str) -> str:
    return f"accounts.email:{account_id}"


class IdentityProvider(Protocol):
    name: str

    async def authenticate(self, credentials: Mapping[str, str]) -> Account:
        """The account the credentials prove; raises InvalidCredentials (or Busy)."""
        ...

    def throttle_key(self, credentials: Mapping[str, str]) -> str | None:
        """Key counting this identity's failures, or None for providers that need none."""
        ...


class PasswordProvider:
    """`{"login": username or email, "password": ...}` against the bcrypt hash."""

    name = "password"

    def __init__(self, store: AccountStore, hasher: PasswordHasher, fields: FieldProtector) -> None:
        self._store = store
        self._hasher = hasher
        self._fields = fields

    async def _find(self, login: str) -> Account | None:
        if "@" in login:
            for h in self._fields.lookup_candidates(email_key(login.strip())):
                account = await self._store.by_email_hash(h)
                if account is not None:
                    return account
            return None
        try:
            return await self._store.by_username(normalize_username(login))
        except NameRefused:
            return None

    async def authenticate(self, credentials: Mapping[str, str]) -> Account:
        login = credentials.get("login", "")
        password = credentials.get("password", "")
        if not isinstance(login, str) or not isinstance(password, str) or len(login) > 320:
            await self._hasher.verify_dummy()
            raise InvalidCredentials()
        account = await self._find(login)
        if account is None or not account.password_hash:
            await self._hasher.verify_dummy()
            raise InvalidCredentials()
        if not await self._hasher.verify(password, account.password_hash):
            raise InvalidCredentials()
        if self._hasher.needs_rehash(account.password_hash):
            data = check_password_policy_lenient(password)
            if data is not None:
                await self._store.set_password_hash(account.id, await self._hasher.hash(data))
        return account

    def throttle_key(self, credentials: Mapping[str, str]) -> str | None:
        login = credentials.get("login", "")
        if not isinstance(login, str):
            return None
        if "@" in login:
            return "email:" + email_key(login.strip())[:EMAIL_MAX]
        try:
            return "user:" + normalize_username(login)
        except NameRefused:
            return "user:" + login[:64].casefold()


def check_password_policy_lenient(password: str) -> bytes | None:
    """The normalised password for a rehash; None if it could not be hashed today."""
    try:
        return check_password_policy(password)
    except PasswordRefused:
        return None


SessionsEnded = Callable[[str, list[str], str], None]


class AccountService:
    def __init__(
        self,
        *,
        store: AccountStore,
        sessions: Sessions,
        tokens: AccessTokens,
        hasher: PasswordHasher,
        fields: FieldProtector,
        roles: RoleCatalogue,
        account_throttle: SlidingWindow,
        ip_throttle: SlidingWindow,
        register_throttle: SlidingWindow,
        guests_allowed: bool = False,
        metrics: AuthMetrics | None = None,
        clock: Callable[[], float] = time.time,
        on_sessions_ended: SessionsEnded | None = None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.tokens = tokens
        self.hasher = hasher
        self.fields = fields
        self.roles = roles
        self.metrics = metrics or AuthMetrics()
        self.guests_allowed = guests_allowed
        self._account_throttle = account_throttle
        self._ip_throttle = ip_throttle
        self._register_throttle = register_throttle
        self._clock = clock
        self.on_sessions_ended = on_sessions_ended
        self.providers: dict[str, IdentityProvider] = {
            "password": PasswordProvider(store, hasher, fields)
        }
        # Display names of live players (the game claims one per join, releases it on leave).
        self.names = NameRegistry()

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        store: AccountStore,
        refresh_store: RefreshTokenStore,
        roles: RoleCatalogue | None = None,
        metrics: AuthMetrics | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_sessions_ended: SessionsEnded | None = None,
    ) -> AccountService:
        secret: str | bytes | None = config.jwt_secret
        if not secret:
            # Only reachable in development: production refuses to start without one.
            log.warning("JWT_SECRET is not set: using a random one, tokens end with the process")
            secret = secrets.token_bytes(32)
        policy: SessionPolicy = (
            SingleSession()
            if config.single_session
            else SessionLimit(config.max_sessions_per_account)
        )
        metrics = metrics or AuthMetrics()
        fields: AesGcmFields | PlainFields = fields_from_config(config)
        return cls(
            store=store,
            sessions=Sessions(
                refresh_store,
                refresh_ttl=config.refresh_token_ttl,
                max_age=config.session_max_age,
                policy=policy,
                clock=clock,
            ),
            tokens=AccessTokens(secret, ttl=config.access_token_ttl, clock=clock),
            hasher=PasswordHasher(
                config.bcrypt_rounds,
                concurrency=config.bcrypt_concurrency,
                max_waiting=config.bcrypt_queue,
                metrics=metrics,
            ),
            fields=fields,
            roles=roles or RoleCatalogue.default(),
            account_throttle=SlidingWindow(
                config.login_failures_per_account, config.login_window, clock=monotonic
            ),
            ip_throttle=SlidingWindow(
                config.login_failures_per_ip, config.login_window, clock=monotonic
            ),
            register_throttle=SlidingWindow(config.registrations_per_ip, 3600.0, clock=monotonic),
            guests_allowed=config.guests_allowed,
            metrics=metrics,
            clock=clock,
            on_sessions_ended=on_sessions_ended,
        )

    def add_provider(self, provider: IdentityProvider) -> None:
        self.providers[provider.name] = provider

    def _ended(self, account_id: str, sids: list[str], reason: str) -> None:
        if not sids:
            return
        self.metrics.sessions_revoked.labels(reason).inc(len(sids))
        if self.on_sessions_ended is not None:
            self.on_sessions_ended(account_id, sids, reason)

    # --- registration ---

    async def register(
        self,
        *,
        username: str,
        email: str,
        password: str,
        ip: str,
        display_name: str | None = None,
    ) -> Account:
        wait = self._register_throttle.retry_after(ip)
        if wait:
            self.metrics.registrations.labels("throttled").inc()
            raise Throttled(wait, "register")
        try:
            account = await self._register(username, email, password, display_name)
        except AuthError as err:
            self.metrics.registrations.labels(err.code).inc()
            raise
        self._register_throttle.hit(ip)
        self.metrics.registrations.labels("ok").inc()
        return account

    async def _register(
        self, username: str, email: str, password: str, display_name: str | None
    ) -> Account:
        try:
            name = normalize_username(username)
        except NameRefused as err:
            raise RegistrationRefused("username", err.reason, str(err)) from None
        try:
            shown = normalize_display_name(display_name or username)
        except NameRefused as err:
            raise RegistrationRefused("display_name", err.reason, str(err)) from None
        address = normalize_email(email)
        try:
            data = check_password_policy(password, username=name)
        except PasswordRefused as err:
            raise RegistrationRefused("password", err.reason, str(err)) from None
        key = email_key(address)
        for h in self.fields.lookup_candidates(key):
            if await self.store.by_email_hash(h) is not None:
                raise RegistrationRefused(
                    "email", "taken", "email is already registered", status=409
                )
        if await self.store.by_username(name) is not None:
            raise RegistrationRefused("username", "taken", "username is taken", status=409)
        try:
            password_hash = await self.hasher.hash(data)
        except HasherBusy:
            raise Busy("server is busy; try again shortly") from None
        account_id = str(uuid.uuid4())  # players.id: a UUID
        account = Account(
            id=account_id,
            username=name,
            display_name=shown,
            email_sealed=self.fields.seal(address, purpose=email_purpose(account_id)),
            email_hash=self.fields.lookup_hash(key),
            password_hash=password_hash,
            created_at=self._clock(),
        )
        try:
            await self.store.create(account)
        except AccountExists as err:  # lost a race with a concurrent registration
            raise RegistrationRefused(err.field, "taken", str(err), status=409) from None
        return account

    # --- login, refresh, logout ---

    async def login(
        self, credentials: Mapping[str, str], *, ip: str, provider: str = "password"
    ) -> TokenPair:
        source = self.providers.get(provider)
        if source is None:
            raise AuthError(f"unknown identity provider {provider[:32]!r}")
        key = source.throttle_key(credentials)
        for scope, window, k in (
            ("ip", self._ip_throttle, ip),
            ("account", self._account_throttle, key),
        ):
            wait = window.retry_after(k) if k is not None else 0.0
            if wait:
                self.metrics.logins.labels("throttled").inc()
                raise Throttled(wait, scope)
        try:
            account = await source.authenticate(credentials)
        except InvalidCredentials:
            self._ip_throttle.hit(ip)
            if key is not None:
                self._account_throttle.hit(key)
            self.metrics.logins.labels("bad_credentials").inc()
            raise
        except HasherBusy:
            self.metrics.logins.labels("busy").inc()
            raise Busy("server is busy; try again shortly") from None
        if key is not None:
            self._account_throttle.reset(key)
        if account.banned(self._clock()):
            self.metrics.logins.labels("banned").inc()
            assert account.banned_until is not None
            raise AccountBanned(account.banned_until, account.ban_reason)
        started = await self.sessions.start(account.id)
        self._ended(account.id, started.closed, "replaced")
        self.metrics.logins.labels("ok").inc()
        access, claims = self._access(account, started.session.sid)
        return TokenPair(
            access, started.refresh_token, self.tokens.ttl, claims, list(started.closed)
        )

    def _access(self, account: Account, sid: str) -> tuple[str, AccessClaims]:
        try:
            email = self.fields.open(account.email_sealed, purpose=email_purpose(account.id))
        except Exception:  # a damaged column must not lock the player out; the claim is informative
            log.error("account %s: email column could not be opened", account.id)
            email = ""
        return self.tokens.issue(
            sub=account.id,
            email=email,
            tier=account.tier,
            permissions=self.roles.claims_for(account.role, account.tier),
            sid=sid,
        )

    async def refresh(self, refresh_token: object) -> TokenPair:
        """A new access token and a new refresh token; the presented one is spent."""
        got = await self.sessions.rotate(refresh_token)
        if isinstance(got, Rejected):
            self.metrics.token_rejections.labels("refresh", got.reason).inc()
            if got.reason is Reason.REUSED and got.sid is not None:
                session = await self.sessions.store.get_session(got.sid)
                if session is not None:
                    self._ended(session.account_id, [got.sid], "reuse")
            raise TokenRefused(got)
        return await self._after_rotation(got)

    async def _after_rotation(self, got: Rotated) -> TokenPair:
        account = await self.store.by_id(got.session.account_id)
        if account is None or account.banned(self._clock()):
            ended = await self.sessions.revoke_account(got.session.account_id, "ban")
            self._ended(got.session.account_id, ended, "ban")
            rejected = Rejected(Reason.BANNED if account else Reason.REVOKED)
            self.metrics.token_rejections.labels("refresh", rejected.reason).inc()
            raise TokenRefused(rejected)
        self.metrics.refreshes.inc()
        access, claims = self._access(account, got.session.sid)
        return TokenPair(access, got.refresh_token, self.tokens.ttl, claims, [])

    async def logout(self, refresh_token: object) -> bool:
        """End the session the refresh token belongs to; False if it was not one of ours."""
        session = await self.sessions.session_of(refresh_token)
        if session is None:
            return False
        ended = await self.sessions.revoke([session.sid], "logout")
        self._ended(session.account_id, ended, "logout")
        return True

    async def logout_everywhere_with(self, refresh_token: object) -> list[str]:
        """Logout everywhere, proven by a refresh token of a live session (a spent or revoked
        one proves nothing: it may be a copy). Ends nothing and returns [] otherwise."""
        session = await self.sessions.session_of(refresh_token)
        if session is None or not session.live(self._clock()):
            return []
        record = await self.sessions.store.get_token(hash_refresh(str(refresh_token)))
        if record is None or record.used_at is not None:
            return []
        return await self.logout_everywhere(session.account_id)

    async def logout_everywhere(self, account_id: str) -> list[str]:
        ended = await self.sessions.revoke_account(account_id, "logout")
        self._ended(account_id, ended, "logout")
        return ended

    # --- the hello ---

    async def authenticate(self, access_token: object) -> AccessClaims | Rejected:
        """Check the hello's token: signature, claims, times, and that its session is live."""
        got = self.tokens.verify(access_token)
        if isinstance(got, AccessClaims) and not await self.sessions.is_live(got.sid):
            got = Rejected(Reason.REVOKED)
        if isinstance(got, Rejected):
            self.metrics.token_rejections.labels("access", got.reason).inc()
        return got

    def grants(self, claims: AccessClaims) -> Grants:
        return Grants.from_claims(claims.permissions)

    def guest(self) -> AccessClaims:
        """An identity for guest play (ALLOW_GUESTS; never in production): `sub` is "guest-..."."""
        if not self.guests_allowed:
            raise GuestsDisabled("guest play is off on this server")
        now = int(self._clock())
        return AccessClaims(
            sub="guest-" + secrets.token_hex(8),
            email="",
            tier=Tier.FREE,
            permissions=(Permission.PLAY_GAME.value,),
            iat=now,
            exp=now,
            jti=secrets.token_hex(8),
            sid="guest",
        )

    # --- moderation hooks ---

    async def ban(
        self, account_id: str, *, until: float, reason: str | None, actor: str | None = None
    ) -> list[str]:
        """Ban until `until` (math.inf = for good) and end every session; returns their sids.

        `actor` (who banned) is stored with the ban for the admin console."""
        if math.isnan(until):
            raise ValueError("ban end is NaN")
        if await self.store.by_id(account_id) is None:
            raise KeyError(account_id)
        await self.store.set_ban(account_id, until, reason, actor=actor, at=self._clock())
        ended = await self.sessions.revoke_account(account_id, "ban")
        self._ended(account_id, ended, "ban")
        return ended

    async def unban(self, account_id: str) -> None:
        await self.store.set_ban(account_id, None, None)

    async def set_role(self, account_id: str, role: str) -> None:
        """Takes effect at the next refresh (access tokens live ACCESS_TOKEN_TTL seconds)."""
        self.roles.role(role)
        await self.store.set_role(account_id, role)

    def now(self) -> float:
        """The service's clock (Unix seconds): what bans and sessions are compared with."""
        return self._clock()

    def close(self) -> None:
        """Stop the hashing threads (at server shutdown)."""
        self.hasher.close()

    async def email_of(self, account: Account) -> str:
        return self.fields.open(account.email_sealed, purpose=email_purpose(account.id))
