"""Field encryption: round trip, purpose binding, tampering, key rotation, lookup hashes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_config
from server.auth.crypto import AesGcmFields, DecryptionError, PlainFields, fields_from_config

K1, K2, K3 = bytes(32), bytes(range(32)), bytes(range(32, 64))


def test_round_trip_and_random_nonce() -> None:
    f = AesGcmFields(K1)
    a = f.seal("tony@example.com", purpose="accounts.email:1")
    b = f.seal("tony@example.com", purpose="accounts.email:1")
    assert a != b and a.startswith(f"enc1:{f.current_kid}:") and "tony" not in a
    assert f.open(a, purpose="accounts.email:1") == "tony@example.com"


def test_a_value_moved_to_another_row_or_column_does_not_open() -> None:
    f = AesGcmFields(K1)
    sealed = f.seal("secret", purpose="accounts.email:1")
    for purpose in ("accounts.email:2", "npc_memories.content:1"):
        with pytest.raises(DecryptionError):
            f.open(sealed, purpose=purpose)


@settings(max_examples=200, deadline=None)
@given(plain=st.text(max_size=50), data=st.data())
def test_changing_any_byte_of_the_ciphertext_is_refused(plain: str, data: st.DataObject) -> None:
    f = AesGcmFields(K1)
    sealed = f.seal(plain, purpose="p")
    head, blob = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    tampered = head + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(DecryptionError):
        f.open(tampered, purpose="p")


@pytest.mark.parametrize("bad", ["", "enc1", "enc1:zz:abc", "enc1:00000000:", "enc1:x:y:z", "hi"])
def test_garbage_is_a_decryption_error(bad: str) -> None:
    with pytest.raises(DecryptionError):
        AesGcmFields(K1).open(bad, purpose="p")


def test_rotation_old_keys_open_current_key_seals() -> None:
    old = AesGcmFields(K1)
    sealed_old = old.seal("v", purpose="p")
    new = AesGcmFields(K2, [K1])
    assert new.open(sealed_old, purpose="p") == "v"
    assert new.needs_rotation(sealed_old)
    rotated = new.rotate(sealed_old, purpose="p")
    assert not new.needs_rotation(rotated) and new.rotate(rotated, purpose="p") == rotated
    assert AesGcmFields(K2).open(rotated, purpose="p") == "v"
    with pytest.raises(DecryptionError, match="unknown key id"):
        AesGcmFields(K3).open(rotated, purpose="p")
    assert new.rotate("legacy plain", purpose="p").startswith("enc1:")


def test_lookup_hash_is_keyed_and_candidates_cover_old_keys() -> None:
    a, b = AesGcmFields(K1), AesGcmFields(K2, [K1])
    assert a.lookup_hash("x@y.z") != PlainFields().lookup_hash("x@y.z")
    assert a.lookup_hash("x@y.z") in b.lookup_candidates("x@y.z")
    assert b.lookup_candidates("x@y.z")[0] == b.lookup_hash("x@y.z")
    assert PlainFields().lookup_hash("x@y.z") in b.lookup_candidates("x@y.z")


def test_plain_fields_without_a_key() -> None:
    p = PlainFields()
    assert p.open(p.seal("v", purpose="p"), purpose="p") == "v"
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEY"):
        p.open(AesGcmFields(K1).seal("v", purpose="p"), purpose="p")


def test_fields_from_config_accepts_hex_and_base64() -> None:
    assert isinstance(fields_from_config(load_config()), PlainFields)
    hex_key = K2.hex()
    b64_key = base64.b64encode(K1).decode()
    f = fields_from_config(load_config(encryption_key=hex_key, encryption_keys_old=b64_key))
    assert isinstance(f, AesGcmFields)
    assert f.open(AesGcmFields(K1).seal("v", purpose="p"), purpose="p") == "v"
    assert f.current_kid == AesGcmFields(K2).current_kid
