"""Password policy and bcrypt hashing that never blocks the event loop.

Cost: `BCRYPT_ROUNDS` (default 11). Measured on the 2-core development machine
(`python -m server.auth.bcrypt_timing`): about 63 ms per hash or verify at 10, 125 ms at 11,
245 ms at 12, 500 ms at 13. A login is one verify, so 11 keeps it near an eighth of a second,
twice the work of Nakama's default of 10. Config refuses less than 10; tests build a
`PasswordHasher` with cost 4 directly.

Hashing runs on a small dedicated thread pool (`BCRYPT_CONCURRENCY` threads; bcrypt releases the
GIL) so a burst of logins can neither stall the tick nor take every core; at most `BCRYPT_QUEUE`
callers wait for it, the next get `HasherBusy` (the HTTP layer answers 503).

The 72-byte limit: bcrypt only reads 72 bytes, and the `bcrypt` package refuses more. We refuse
such passwords at registration with a message saying so, instead of pre-hashing them: a
pre-hash would make our stored hashes unlike any other bcrypt, and 72 bytes is 72 ASCII
characters or 24 or more in any script, longer than a passphrase of six words. Passwords are
normalised with PRECIS OpaqueString (RFC 8265: NFC, no control characters), so the same
password typed on two keyboards that compose accents differently still matches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import bcrypt
from precis_i18n import get_profile

from server.auth.metrics import AuthMetrics

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72
MIN_ROUNDS = 4  # bcrypt's own minimum; only tests go below 10
MAX_ROUNDS = 16

_OPAQUE = get_profile("OpaqueString")


class PasswordRefused(ValueError):
    """The password breaks the policy; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HasherBusy(Exception):
    """Too many logins are waiting for a hashing thread; try again shortly."""


def normalize_password(password: str) -> bytes:
    """RFC 8265 OpaqueString, UTF-8. Raises PasswordRefused for characters it forbids."""
    if len(password) > MAX_PASSWORD_BYTES * 4:
        raise PasswordRefused("too_long", f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    try:
        return _OPAQUE.enforce(password).encode("utf-8")
    except UnicodeEncodeError as err:
        if err.reason.endswith("empty"):
            raise PasswordRefused("too_short", "password is empty") from None
        raise PasswordRefused(
            "forbidden_character", "password has a control or invisible character"
        ) from None


def check_password_policy(password: str, *, username: str | None = None) -> bytes:
    """The normalised password if registration may use it; raises PasswordRefused otherwise."""
    data = normalize_password(password)
    text = data.decode("utf-8")
    if len(text) < MIN_PASSWORD_CHARS:
        raise PasswordRefused(
            "too_short", f"password must be at least {MIN_PASSWORD_CHARS} characters"
        )
    if len(data) > MAX_PASSWORD_BYTES:
        raise PasswordRefused(
            "too_long",
            f"password is {len(data)} bytes in UTF-8; bcrypt reads at most {MAX_PASSWORD_BYTES},"
            " so use a shorter one",
        )
    if len(set(text)) < 3:
        raise PasswordRefused("too_simple", "password needs at least 3 different characters")
    if username and text.casefold() == username.casefold():
        raise PasswordRefused("same_as_username", "password must not be the username")
    return data


def hash_rounds(hashed: str) -> int | None:
    """The cost recorded in a bcrypt hash (`$2b$11$...`), or None if it is not one."""
    parts = hashed.split("$")
    if len(parts) == 4 and parts[1] in ("2a", "2b", "2y") and parts[2].isdigit():
        return int(parts[2])
    return None


class PasswordHasher:
    def __init__(
        self,
        rounds: int,
        *,
        concurrency: int = 1,
        max_waiting: int = 64,
        metrics: AuthMetrics | None = None,
    ) -> None:
        if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
            raise ValueError(f"bcrypt rounds must be {MIN_ROUNDS}..{MAX_ROUNDS}")
        self.rounds = rounds
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bcrypt")
        self._max_waiting = max_waiting
        self._waiting = 0
        self._metrics = metrics
        self._dummy: bytes | None = None

    async def _run(
        self, op: str, fn: Callable[[bytes, bytes], object], a: bytes, b: bytes
    ) -> object:
        if self._waiting >= self._max_waiting:
            if self._metrics:
                self._metrics.hasher_busy.inc()
            raise HasherBusy("too many password checks in progress")
        self._waiting += 1
        if self._metrics:
            self._metrics.hash_waiting.set(self._waiting)
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, a, b)
        finally:
            self._waiting -= 1
            if self._metrics:
                self._metrics.hash_waiting.set(self._waiting)
                self._metrics.hash_seconds.labels(op).observe(time.perf_counter() - start)

    async def hash(self, password: bytes) -> str:
        """Hash an already normalised password (`check_password_policy` output)."""
        salt = bcrypt.gensalt(self.rounds)
        out = await self._run("hash", bcrypt.hashpw, password, salt)
        assert isinstance(out, bytes)
        return out.decode("ascii")

    async def verify(self, password: str, hashed: str) -> bool:
        """True if `password` matches. Takes about as long whatever the outcome."""
        try:
            data = normalize_password(password)
        except PasswordRefused:
            data = b""
        if not data or len(data) > MAX_PASSWORD_BYTES or hash_rounds(hashed) is None:
            await self.verify_dummy()
            return False
        out = await self._run("verify", bcrypt.checkpw, data, hashed.encode("ascii"))
        return out is True

    async def verify_dummy(self) -> None:
        """Spend one verify's time for an unknown user, so timing does not reveal who exists."""
        if self._dummy is None:
            made = await self._run(
                "hash", bcrypt.hashpw, b"not a password", bcrypt.gensalt(self.rounds)
            )
            assert isinstance(made, bytes)
            self._dummy = made
        await self._run("verify", bcrypt.checkpw, b"still not a password", self._dummy)

    def needs_rehash(self, hashed: str) -> bool:
        """The hash was made at a lower cost than configured now: rehash at the next login."""
        rounds = hash_rounds(hashed)
        return rounds is None or rounds < self.rounds

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
