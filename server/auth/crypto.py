"""Field encryption (AES-256-GCM) and keyed lookup hashes for sensitive columns.

With `ENCRYPTION_KEY` set, a column such as `accounts.email` holds `enc1:<kid>:<base64url>`:
the 8-hex-digit id of the key that sealed it, then a random 96-bit nonce and the GCM output.
The associated data names what the value is for (e.g. `accounts.email:<account id>`), so a
ciphertext copied into another row or column fails to open instead of leaking there.

Rotation: `ENCRYPTION_KEY` seals, it and every key in `ENCRYPTION_KEYS_OLD` open; `rotate()`
re-seals one value with the current key (a background job walks the rows). Lookup hashes
(HMAC-SHA256 under a key derived with HKDF, so the sealing key is never used twice) change with
the key too: `lookup_candidates()` gives the hash under every key, so finding a row keeps
working while the job has not reached it.

Without a key, `PlainFields` keeps the same interface: values are stored as given and lookups
use an unkeyed SHA-256, so storage code does not branch on the setting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.settings import Config, decode_key, split_keys

PREFIX = "enc1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A sealed value could not be opened (tampered, wrong purpose, or unknown key)."""


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    aead: AESGCM
    lookup: bytes


def _make_key(raw: bytes) -> _Key:
    if len(raw) != 32:
        raise ValueError("an encryption key must be 32 bytes")
    return _Key(
        kid=_derive(raw, b"ganggpt key id v1")[:4].hex(),
        aead=AESGCM(_derive(raw, b"ganggpt field encryption v1")),
        lookup=_derive(raw, b"ganggpt lookup hash v1"),
    )


class FieldProtector(Protocol):
    """What storage code needs: seal/open a column value, and hash one for equality lookups."""

    def seal(self, plaintext: str, *, purpose: str) -> str: ...

    def open(self, stored: str, *, purpose: str) -> str: ...

    def lookup_hash(self, value: str) -> str: ...

    def lookup_candidates(self, value: str) -> list[str]: ...


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX + ":")


class AesGcmFields:
    """AES-256-GCM sealing with a current key and any number of older, read-only keys."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        self._current = _make_key(current)
        self._keys = {self._current.kid: self._current}
        for raw in old:
            key = _make_key(raw)
            self._keys.setdefault(key.kid, key)

    @property
    def current_kid(self) -> str:
        return self._current.kid

    def seal(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.aead.encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        return f"{PREFIX}:{self._current.kid}:{_b64(nonce + sealed)}"

    def open(self, stored: str, *, purpose: str) -> str:
        parts = stored.split(":")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise DecryptionError("not a sealed value")
        key = self._keys.get(parts[1])
        if key is None:
            raise DecryptionError(f"sealed with unknown key id {parts[1]!r}")
        try:
            blob = _unb64(parts[2])
        except (binascii.Error, ValueError):
            raise DecryptionError("sealed value is not valid base64") from None
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError("sealed value is too short")
        try:
            plain = key.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], purpose.encode())
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError("sealed value failed authentication") from None

    def needs_rotation(self, stored: str) -> bool:
        return not stored.startswith(f"{PREFIX}:{self._current.kid}:")

    def rotate(self, stored: str, *, purpose: str) -> str:
        """`stored` sealed with the current key (a plain legacy value is sealed as it is)."""
        if not is_sealed(stored):
            return self.seal(stored, purpose=purpose)
        if not self.needs_rotation(stored):
            return stored
        return self.seal(self.open(stored, purpose=purpose), purpose=purpose)

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._current.lookup, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def lookup_candidates(self, value: str) -> list[str]:
        """The hash under the current key first, then under each old key, then the unkeyed one
        (rows written before ENCRYPTION_KEY was set, until the rotation job reaches them)."""
        data = value.encode("utf-8")
        out = [hmac.new(k.lookup, data, hashlib.sha256).hexdigest() for k in self._keys.values()]
        out.append(hashlib.sha256(data).hexdigest())
        return out


class PlainFields:
    """No ENCRYPTION_KEY: values stored as given; an already sealed value cannot be opened."""

    def seal(self, plaintext: str, *, purpose: str) -> str:
        return plaintext

    def open(self, stored: str, *, purpose: str) -> str:
        if is_sealed(stored):
            raise DecryptionError("value is encrypted but ENCRYPTION_KEY is not set")
        return stored

    def lookup_hash(self, value: str) -> str:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()

    def lookup_candidates(self, value: str) -> list[str]:
        return [self.lookup_hash(value)]


def fields_from_config(config: Config) -> AesGcmFields | PlainFields:
    """The protector the config asks for. Keys were validated when the config was loaded."""
    if not config.encryption_key:
        return PlainFields()
    return AesGcmFields(
        decode_key(config.encryption_key),
        [decode_key(k) for k in split_keys(config.encryption_keys_old)],
    )
