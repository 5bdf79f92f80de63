"""Production rules: weak or missing JWT_SECRET and guest play refused at start, by name,
without the secret ever appearing in the message."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
STRONG = "9f2c1e7a4b8d6f3a0c5e9b2d7f1a4c8e6b3d0f5a"  # 40 random-looking bytes


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "your_jwt_secret",
        "CHANGEME",
        "secret",
        "please-changeme-before-going-live-ok",
        "short-but-random-Zq81",
        "a" * 64,
        "abababababababababababababababab",
    ],
)
def test_production_refuses_a_weak_jwt_secret(secret: str | None) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(env="production", jwt_secret=secret)
    message = str(e.value)
    assert "JWT_SECRET" in message
    if secret:
        assert secret not in message


def test_production_accepts_a_strong_secret_and_turns_guests_off() -> None:
    c = load_config(env="production", jwt_secret=STRONG)
    assert not c.guests_allowed
    assert load_config().guests_allowed  # development default
    assert not load_config(allow_guests=False).guests_allowed


def test_production_refuses_guest_play() -> None:
    with pytest.raises(ConfigError, match="ALLOW_GUESTS"):
        load_config(env="production", jwt_secret=STRONG, allow_guests=True)


def test_development_accepts_a_weak_or_missing_secret() -> None:
    assert load_config(jwt_secret="dev").jwt_secret == "dev"
    assert load_config().jwt_secret is None


def test_bcrypt_floor_is_ten_outside_tests() -> None:
    with pytest.raises(ConfigError, match="BCRYPT_ROUNDS"):
        load_config(bcrypt_rounds=9)
    assert load_config().bcrypt_rounds == 11


@pytest.mark.parametrize(
    ("key", "old"),
    [
        ("not a key", ""),
        ("00" * 31, ""),  # 31 bytes
        (base64.b64encode(bytes(16)).decode(), ""),
        ("00" * 32, "zzzz"),
        ("", "00" * 32),  # old keys without a current one
    ],
)
def test_bad_encryption_keys_name_the_variable(key: str, old: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(encryption_key=key or None, encryption_keys_old=old)
    message = str(e.value)
    assert "ENCRYPTION_KEY" in message
    for value in (key, old):
        if len(value) > 4:
            assert value not in message


def test_good_keys_are_accepted_and_masked() -> None:
    c = load_config(
        encryption_key=base64.urlsafe_b64encode(bytes(range(32))).decode(),
        encryption_keys_old="00" * 32 + ", " + base64.b64encode(bytes(32)).decode(),
    )
    d = c.public_dict()
    assert d["encryption_key"] == "***" and d["encryption_keys_old"] == "***"


def test_server_refuses_to_start_in_production_without_a_good_secret(tmp_path: Path) -> None:
    weak = "your_jwt_secret"
    r = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env={
            "PATH": "/usr/bin:/bin",
            "ENV": "production",
            "JWT_SECRET": weak,
            "HOME": str(tmp_path),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "JWT_SECRET" in r.stderr
    assert weak not in r.stderr + r.stdout
