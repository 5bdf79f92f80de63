"""Access tokens: round trips, and every kind of bad token refused with a reason and 4004."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.catalogue import CloseCode
from server.auth.permissions import Tier
from server.auth.tokens import AUDIENCE, ISSUER, AccessClaims, AccessTokens, Reason, Rejected
from tests.auth.conftest import SECRET, Clock

NOW = 1_700_000_000


def tokens(clock: Clock | None = None, ttl: int = 60) -> AccessTokens:
    return AccessTokens(SECRET, ttl=ttl, clock=clock or Clock(NOW))


def good_payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "sub": "acc1",
        "email": "a@example.com",
        "tier": "free",
        "permissions": ["play:game"],
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "j1",
        "sid": "s1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused(result: AccessClaims | Rejected, reason: Reason) -> None:
    assert isinstance(result, Rejected), result
    assert result.reason is reason, result
    assert result.close_code == CloseCode.AUTH_FAILED == 4004


def test_issue_then_verify_gives_the_seed_claims() -> None:
    t = tokens()
    token, issued = t.issue(
        sub="acc1", email="a@example.com", tier=Tier.PREMIUM, permissions=["play:game"], sid="s1"
    )
    got = t.verify(token)
    assert got == issued
    assert isinstance(got, AccessClaims)
    assert (got.sub, got.email, got.tier, got.permissions) == (
        "acc1",
        "a@example.com",
        Tier.PREMIUM,
        ("play:game",),
    )
    assert got.exp - got.iat == 60
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"


def test_expired_after_ttl_and_valid_until_then() -> None:
    clock = Clock(NOW)
    t = tokens(clock)
    token, _ = t.issue(sub="a", email="", tier=Tier.FREE, permissions=[], sid="s")
    clock.advance(59)
    assert isinstance(t.verify(token), AccessClaims)
    clock.advance(1)
    refused(t.verify(token), Reason.EXPIRED)


def test_issued_in_the_future_is_not_yet_valid() -> None:
    token = jwt.encode(good_payload(iat=NOW + 30, exp=NOW + 60), SECRET, algorithm="HS256")
    refused(tokens().verify(token), Reason.NOT_YET_VALID)
    token = jwt.encode(good_payload(nbf=NOW + 10), SECRET, algorithm="HS256")
    refused(tokens().verify(token), Reason.NOT_YET_VALID)


def test_lifetime_longer_than_we_issue_is_refused() -> None:
    token = jwt.encode(good_payload(exp=NOW + 86400), SECRET, algorithm="HS256")
    refused(tokens().verify(token), Reason.BAD_CLAIM)


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(good_payload()).encode())
    for token in (f"{header}.{body}.", f"{header}.{body}"):
        got = tokens().verify(token)
        assert isinstance(got, Rejected) and got.reason in (Reason.BAD_ALG, Reason.MALFORMED)
    refused(tokens().verify(f"{header}.{body}."), Reason.BAD_ALG)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_even_with_the_right_secret(alg: str) -> None:
    token = jwt.encode(good_payload(), SECRET, algorithm=alg)
    refused(tokens().verify(token), Reason.BAD_ALG)


def test_rs256_and_es256_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(tokens().verify(jwt.encode(good_payload(), rsa_key, algorithm="RS256")), Reason.BAD_ALG)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    refused(tokens().verify(jwt.encode(good_payload(), ec_key, algorithm="ES256")), Reason.BAD_ALG)


def test_header_claiming_hs256_over_another_signature_fails_the_signature() -> None:
    token = jwt.encode(good_payload(), SECRET + "x", algorithm="HS256")
    refused(tokens().verify(token), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("claim", ["sub", "email", "tier", "permissions", "iat", "exp", "sid"])
def test_missing_claims_are_refused(claim: str) -> None:
    token = jwt.encode(good_payload(**{claim: None}), SECRET, algorithm="HS256")
    refused(tokens().verify(token), Reason.MISSING_CLAIM)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", 17),
        ("sub", ""),
        ("email", ["a"]),
        ("tier", "gold"),
        ("permissions", "play:game"),
        ("permissions", [1, 2]),
        ("permissions", ["x"] * 65),
        ("iat", float(NOW)),
        ("exp", True),
        ("sid", "s" * 65),
    ],
)
def test_claims_of_the_wrong_type_are_refused(claim: str, value: object) -> None:
    token = jwt.encode(good_payload(**{claim: value}), SECRET, algorithm="HS256")
    got = tokens().verify(token)
    assert isinstance(got, Rejected) and got.reason in (Reason.BAD_CLAIM, Reason.MALFORMED), got


def test_other_issuer_or_audience_is_refused() -> None:
    refused(
        tokens().verify(jwt.encode(good_payload(iss="other"), SECRET, algorithm="HS256")),
        Reason.WRONG_ISSUER,
    )
    refused(
        tokens().verify(jwt.encode(good_payload(aud="other"), SECRET, algorithm="HS256")),
        Reason.WRONG_AUDIENCE,
    )


@pytest.mark.parametrize("token", [None, 42, "", "a.b", "a.b.c", "x" * 5000, "ey.ey.ey", b"abc"])
def test_garbage_is_malformed(token: object) -> None:
    refused(tokens().verify(token), Reason.MALFORMED)


@settings(max_examples=60, deadline=None)
@given(
    sub=st.text(min_size=1, max_size=64),
    email=st.emails(),
    tier=st.sampled_from(list(Tier)),
    perms=st.lists(st.text(max_size=64), max_size=64),
)
def test_round_trip_any_claims(sub: str, email: str, tier: Tier, perms: list[str]) -> None:
    t = tokens()
    token, issued = t.issue(sub=sub, email=email, tier=tier, permissions=perms, sid="s")
    assert t.verify(token) == issued


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_changing_any_character_of_a_token_is_refused(data: st.DataObject) -> None:
    t = tokens()
    token, _ = t.issue(sub="acc1", email="a@b.co", tier=Tier.FREE, permissions=["p"], sid="s")
    i = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    ch = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[i]))
    tampered = token[:i] + ch + token[i + 1 :]
    got = t.verify(tampered)
    # base64url's last character of a segment carries spare bits: a change there can decode to
    # the same bytes, and then it is the same token.
    assert same_bytes(token, tampered) or isinstance(got, Rejected), (i, ch)


def same_bytes(a: str, b: str) -> bool:
    def segments(t: str) -> list[bytes] | None:
        try:
            return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in t.split(".")]
        except ValueError:
            return None

    sa, sb = segments(a), segments(b)
    return sa is not None and sa == sb
